"""Read the project's human-edited YAML files (catalog, register, presets, rules, recipes, speeds).

Stricter than :func:`yaml.safe_load`: the file must be UTF-8 text of bounded size; a key given twice
in one mapping is refused (YAML would silently keep the last); and documents whose aliases expand
to more than :data:`MAX_NODES` nodes ("billion laughs") or refer to themselves are refused before
anything is built from them.
"""

from __future__ import annotations

import os
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from cityplan._errors import LayerNotFoundError, SchemaError

#: largest YAML file read (bytes); the project's own files are a few tens of kB
MAX_BYTES = 4 * 1024 * 1024
#: most nodes a document may have once its aliases are expanded
MAX_NODES = 200_000


class _Refused(yaml.YAMLError):
    """A document we will not build (duplicate key, recursive alias)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:  # noqa: D102
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeConstructor reports unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in seen:
                msg = (f"line {line}: key {key!r} appears twice in one mapping (also line {seen[key]}); "
                       "YAML would silently keep the last - delete one")
                raise _Refused(msg)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node) -> int:
    """Nodes of ``root`` with aliases expanded (memoised on shared nodes; cycles refused)."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            msg = f"line {node.start_mark.line + 1}: an alias refers to the node that contains it (recursive YAML)"
            raise _Refused(msg)
        active.add(key)
        n = 1
        if isinstance(node, SequenceNode):
            n += sum(size(c) for c in node.value)
        elif isinstance(node, MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        memo[key] = n
        if n > MAX_NODES:
            msg = (f"its aliases expand to more than {MAX_NODES:,} nodes (a 'billion laughs' document?); "
                   "write the values out instead of repeating anchors")
            raise _Refused(msg)
        return n

    return size(root)


def parse_yaml_text(text: str, *, source: str) -> Any:
    """Parse one YAML document with the checks of :func:`load_yaml`; ``source`` names it in errors."""
    loader = None
    try:
        loader = _StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except _Refused as exc:
        msg = f"{source}: refused: {exc}"
        raise SchemaError(msg) from None
    except RecursionError:
        msg = f"{source}: refused: nested too deeply"
        raise SchemaError(msg) from None
    except yaml.reader.ReaderError as exc:
        msg = f"{source}: not YAML text ({_describe(exc)}); a binary file? save the YAML as plain UTF-8 text"
        raise SchemaError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{source}: not valid YAML ({_describe(exc)}); check indentation, quoting and brackets there"
        raise SchemaError(msg) from None
    finally:
        if loader is not None:
            loader.dispose()


def _describe(exc: yaml.YAMLError) -> str:
    """``line L, column C: problem`` of a PyYAML error, on one line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        m = exc.problem_mark
        ctx = f" {exc.context}" if exc.context else ""
        return f"line {m.line + 1}, column {m.column + 1}: {exc.problem}{ctx}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        return f"character #{exc.position}: control character U+{char:04X} is not allowed"
    return " ".join(str(exc).split())


def load_yaml(path: str | os.PathLike[str] | Traversable, *, what: str) -> Any:
    """Parse ``path``; :class:`LayerNotFoundError` if missing, :class:`SchemaError` if not usable YAML.

    ``path`` is a file path or any :class:`~importlib.resources.abc.Traversable` (a file of a
    profile shipped in the package, or of the profile stored in a one map).

    Refused with one line each: not a regular file, larger than :data:`MAX_BYTES`, not UTF-8,
    syntax errors, duplicate keys, alias bombs and recursive aliases. An empty file gives ``None``.
    """
    p: Traversable = path if isinstance(path, Traversable) else Path(path)
    if not p.is_file():
        msg = f"{p}: {what} is not a file" if p.is_dir() else f"{p}: {what} not found"
        raise SchemaError(msg) if p.is_dir() else LayerNotFoundError(msg)
    if isinstance(p, Path) and p.stat().st_size > MAX_BYTES:
        msg = f"{p}: {what} is {p.stat().st_size:,} bytes; refusing YAML files over {MAX_BYTES:,} bytes"
        raise SchemaError(msg)
    data = p.read_bytes()
    if len(data) > MAX_BYTES:
        msg = f"{p}: {what} is {len(data):,} bytes; refusing YAML files over {MAX_BYTES:,} bytes"
        raise SchemaError(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = (f"{p}: {what} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); "
               "save it as UTF-8 (GBK and binary files are refused)")
        raise SchemaError(msg) from None
    if "\x00" in text:
        msg = f"{p}: {what} contains NUL bytes - a binary file, not YAML text"
        raise SchemaError(msg)
    return parse_yaml_text(text, source=f"{p}: {what}")
