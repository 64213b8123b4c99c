"""One search over every layer of a map: names (zh/en), ids and addresses, real features first.

Shared by the server (``GET /api/search``, the whole map, not only the view) and, in the same
order, by ``cityplan.js`` over an offline map's embedded layers (its ``rankHit`` mirrors
:func:`match_rank` and :func:`sort_key`). Which columns are searched comes from the data, never
from a city: the first present of :data:`NAME_COLUMNS` is a feature's name, of
:data:`EN_COLUMNS` its English name, then every present :data:`ID_COLUMNS` and
:data:`ADDRESS_COLUMNS` column. Pinyin: a ``name_pinyin``/``name:zh_pinyin`` column when the
data give one, else the name's pinyin made with ``pypinyin`` (toneless, ``tai yang dao``; the most
common reading of each character, so a rare reading of a place name may be missed) and its
initials (``tyd``, matched only from the start).

Matching is on a normalised form (:func:`normalise`: Unicode NFKC, case-folded, spaces and
punctuation removed), so ``Line 3``, ``line3`` and ``LINE-3`` are the same query. A hit's rank is
(illustrative?, how it matched, which kind of column, layer order, name length): every real
feature comes before every illustrative one (a site no public data locates is never the answer
in place of a real place), then exact before prefix before word-start before substring.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from pypinyin import lazy_pinyin

#: a feature's name: the first of these columns the layer has
NAME_COLUMNS = ("name", "name_zh", "name:zh", "line", "title", "label")
#: its English name
EN_COLUMNS = ("name_en", "name:en", "line_en", "title_en")
#: transliterations, where the data give them
PINYIN_COLUMNS = ("name_pinyin", "name:zh_pinyin", "pinyin")
#: identifiers searched as well
ID_COLUMNS = ("ref", "osm_ref", "adcode", "division_code", "site_id", "task_id", "code", "id")
#: addresses searched as well
ADDRESS_COLUMNS = ("address", "addr", "addr:full", "addr:street", "addr_street")

#: a CJK character
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=200_000)
def pinyin_keys(text: str) -> tuple[str, str]:
    """(``tai yang dao``, ``tyd``) of a name holding Chinese characters; ("", "") otherwise."""
    if not text or not _CJK_CHAR.search(text):
        return "", ""
    syl = [x for x in lazy_pinyin(text, errors=lambda s: list(s)) if x.strip()]
    full = " ".join(x for x in syl)
    initials = "".join(x[0] for x in syl if x[0].isalnum())
    return full, initials


#: how a query matched a key, best first
EXACT, PREFIX, WORD, SUBSTRING = 0, 1, 2, 3
#: which kind of column matched, best first
KIND_NAME, KIND_EN, KIND_PINYIN, KIND_ID, KIND_ADDRESS, KIND_INITIALS, KIND_TITLE = 0, 1, 2, 3, 4, 5, 6
#: hits answered at most
MAX_HITS = 50
#: query length accepted (characters)
MAX_QUERY = 100

_SEP = "\x1f"  # between word-start suffixes (normalised keys never hold it)
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
_WORDS = re.compile(r"[\s\-_/·,.()（）]+")


def normalise(text: object) -> str:
    """The compared form of a text: NFKC, case-folded, without spaces or punctuation."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return _DROP.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


def _word_starts(text: str) -> list[str]:
    """The normalised text from each word start on (``Harbin Metro Line 3`` -> ``metroline3``, ...)."""
    words = [w for w in _WORDS.split(unicodedata.normalize("NFKC", text).casefold()) if w]
    return [normalise("".join(words[i:])) for i in range(1, len(words))]


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def title_keys(title: str) -> list[str]:
    """Normalised keys of a bilingual title: the whole, its CJK characters, the rest."""
    zh = "".join(_CJK.findall(title))
    rest = _CJK.sub(" ", title)
    return [k for k in dict.fromkeys([normalise(title), normalise(zh), normalise(rest)]) if k]


def match_rank(query: str, key: str, starts: Sequence[str] = ()) -> int | None:
    """How the normalised ``query`` matches the normalised ``key`` (None: not at all).

    ``starts`` are the key from each later word start on (:func:`_word_starts`)."""
    if not query or not key:
        return None
    if key == query:
        return EXACT
    if key.startswith(query):
        return PREFIX
    if any(s.startswith(query) for s in starts):
        return WORD
    if query in key:
        return SUBSTRING
    return None


def column(table: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``table`` as one Series (the first, when a file repeats the name)."""
    s = table[name]
    return s.iloc[:, 0] if isinstance(s, pd.DataFrame) else s


def label_columns(columns: Iterable[str]) -> tuple[str | None, str | None]:
    """(name column, English name column) of a layer with ``columns`` (None when it has none)."""
    cols = set(columns)
    name = next((c for c in NAME_COLUMNS if c in cols), None)
    en = next((c for c in EN_COLUMNS if c in cols), None)
    return name, en


def search_columns(columns: Iterable[str]) -> list[tuple[str, int]]:
    """The columns searched in a layer, each with its kind (:data:`KIND_NAME` ...)."""
    cols = list(columns)
    name, en = label_columns(cols)
    out: list[tuple[str, int]] = []
    if name:
        out.append((name, KIND_NAME))
    if en:
        out.append((en, KIND_EN))
    out += [(c, KIND_PINYIN) for c in PINYIN_COLUMNS if c in cols]
    out += [(c, KIND_ID) for c in ID_COLUMNS if c in cols and c != name]
    out += [(c, KIND_ADDRESS) for c in ADDRESS_COLUMNS if c in cols]
    return out


def display_name(name: object, en: object) -> str:
    """``太阳岛 Sun Island``: the name and the English one beside it (either alone when one is missing
    or they are the same)."""
    a = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).strip()
    b = "" if en is None or (isinstance(en, float) and np.isnan(en)) else str(en).strip()
    if a and b and normalise(a) != normalise(b):
        return f"{a} {b}"
    return a or b


@dataclass(frozen=True)
class Hit:
    """One search answer: a feature of a layer."""

    layer: str
    title: str
    fid: int           # the feature's row in the layer as the map holds it
    label: str         # its name (zh en) or, lacking one, the matched value
    matched: str       # the column that matched
    value: str         # the matched value
    illustrative: bool
    rank: tuple[int, int, int, int, int]


@dataclass
class _LayerIndex:
    layer: str
    title: str
    order: int
    labels: list[str]
    ill: np.ndarray
    keys: list[tuple[str, int, np.ndarray, list[str], np.ndarray]]  # column, kind, normalised, raw, word starts
    label_len: np.ndarray


def sort_key(illustrative: bool, how: int, kind: int, order: int, label: str) -> tuple[int, int, int, int, int]:
    """The rank of a hit (smaller first): real before illustrative, then match, column kind, layer
    order and shorter names."""
    return (int(bool(illustrative)), how, kind, order, len(label))


class SearchIndex:
    """Search keys of several layers, made once (per build) and asked many times."""

    def __init__(self) -> None:
        self._layers: list[_LayerIndex] = []
        self._titles: list[tuple[str, str, int, list[str], bool]] = []

    def add_title(self, layer: str, title: str, *, order: int | None = None, illustrative: bool = False) -> None:
        """Index a layer's own title (``太阳岛 Sun Island``: the whole, its CJK part and the rest): a
        hit is the layer itself (fid -1), as good as a feature's name when exact, else after the
        features matched as well."""
        keys = title_keys(title)
        self._titles.append((layer, title, len(self._layers) if order is None else order, keys, illustrative))

    def add(self, layer: str, title: str, table: pd.DataFrame, *, illustrative: bool | Sequence[bool] = False,
            order: int | None = None) -> None:
        """Index the rows of ``table`` (attributes; row i is feature ``fid`` i) as layer ``layer``.

        ``illustrative`` is the layer's flag, or one per row; a row's own ``illustrative`` column,
        when present, counts too."""
        n = len(table)
        if isinstance(illustrative, bool | np.bool_):
            ill = np.full(n, bool(illustrative))
        else:
            ill = np.asarray(illustrative, dtype=bool)
        if "illustrative" in table.columns:
            ill = ill | column(table, "illustrative").fillna(False).astype(bool).to_numpy()
        cols = search_columns(table.columns)
        if not cols or not n:
            return
        name_col, en_col = label_columns(table.columns)
        names = column(table, name_col).tolist() if name_col else [None] * n
        ens = column(table, en_col).tolist() if en_col else [None] * n
        labels = [display_name(a, b) for a, b in zip(names, ens, strict=True)]
        keys = []
        columns = [(col, kind, column(table, col).tolist()) for col, kind in cols]
        if name_col and not any(k == KIND_PINYIN for _, k in cols):
            made = [pinyin_keys(str(v)) if isinstance(v, str) else ("", "") for v in names]
            if any(a for a, _ in made):
                columns.append(("pinyin", KIND_PINYIN, [a for a, _ in made]))
                columns.append(("pinyin initials", KIND_INITIALS, [b for _, b in made]))
        for col, kind, values in columns:
            raw = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
            norm = np.array([normalise(v) for v in raw], dtype=str)
            # the key from each later word start on, joined after a separator: a word-start match is
            # one vectorised find of SEP + query
            starts = np.array(["".join(_SEP + w for w in _word_starts(v)) if kind not in (KIND_ID, KIND_INITIALS) else ""
                               for v in raw], dtype=str)
            keys.append((col, kind, norm, raw, starts))
        self._layers.append(_LayerIndex(layer, title, len(self._layers) if order is None else order, labels, ill, keys,
                                        np.array([len(v) for v in labels], dtype=np.int64)))

    @property
    def layers(self) -> list[str]:
        """The layers indexed, in order."""
        return [li.layer for li in self._layers]

    def search(self, query: str, *, limit: int = 20, layers: set[str] | None = None) -> list[Hit]:
        """The best ``limit`` hits of ``query`` (at most :data:`MAX_HITS`), over ``layers`` (all when
        None), one per feature (its best match)."""
        q = normalise(query[:MAX_QUERY])
        if not q:
            return []
        limit = max(1, min(int(limit), MAX_HITS))
        best: dict[tuple[str, int], Hit] = {}
        for li in self._layers:
            if layers is not None and li.layer not in layers:
                continue
            n = len(li.labels)
            how_b = np.full(n, 99, dtype=np.int64)
            kind_b = np.full(n, 99, dtype=np.int64)
            col_b = np.full(n, -1, dtype=np.int64)
            for k, (_col, kind, norm, _raw, starts) in enumerate(li.keys):
                sub = np.char.find(norm, q) >= 0
                if not sub.any():
                    continue
                how = np.where(sub, SUBSTRING, 99)
                how[sub & (np.char.find(starts, _SEP + q) >= 0)] = WORD
                how[np.char.startswith(norm, q)] = PREFIX
                how[norm == q] = EXACT
                if kind == KIND_INITIALS:
                    how[how > PREFIX] = 99
                better = (how < how_b) | ((how == how_b) & (kind < kind_b))
                how_b[better], kind_b[better], col_b[better] = how[better], kind, k
            cand = np.flatnonzero(how_b < 99)
            if not len(cand):
                continue
            ill = li.ill[cand].astype(np.int64)
            order = np.lexsort((li.label_len[cand], kind_b[cand], how_b[cand], ill))[:limit]
            for i in (int(v) for v in cand[order]):
                col, kind, _n, raw, _s = li.keys[int(col_b[i])]
                label = li.labels[i] or raw[i]
                rank = sort_key(bool(li.ill[i]), int(how_b[i]), kind, li.order, label)
                best[(li.layer, i)] = Hit(li.layer, li.title, i, label, col, raw[i], bool(li.ill[i]), rank)
        for layer, title, order, keys, ill in self._titles:
            if layers is not None and layer not in layers:
                continue
            hows = [h for h in (match_rank(q, k, _word_starts(title)) for k in keys) if h is not None]
            if hows:
                how = min(hows)  # a title as good as a name when exact, else after the features
                rank = sort_key(ill, how, KIND_NAME if how == EXACT else KIND_TITLE, order, title)
                best[(layer, -1)] = Hit(layer, title, -1, title, "layer", title, ill, rank)
        return sorted(best.values(), key=lambda h: (h.rank, h.label, h.layer, h.fid))[:limit]
