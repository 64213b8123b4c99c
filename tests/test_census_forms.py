"""Census and other CSV tables in the forms city offices publish.

``pop_2022`` and other population headers, ``;``-separated files with decimal commas, tab
separators, thousands separators, Latin-1 / GB 18030 / UTF-8 (BOM) text, district names
matched without adcodes; every refusal is one line naming the file, row, column and value.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from cityplan._errors import EncodingError, SchemaError
from cityplan.city.catalog import CENSUS_FILE
from cityplan.city.districts import parse_number, read_census
from cityplan.io.encoding import decode_table, decode_text
from cityplan.io.read import detect_separator, read_table, read_vector

LATIN = ("Região Oeste", "São Paulo", "Düsseldorf", "Crème")
CHINESE = ("南岗区", "道里区")


def _districts(names: tuple[str, ...], codes: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """Districts as read_districts returns them (``D01``... when the file has no adcode)."""
    codes = codes or tuple(f"D{i + 1:02d}" for i in range(len(names)))
    boxes = [shapely.box(i, 0, i + 1, 1) for i in range(len(names))]
    return gpd.GeoDataFrame({"adcode": list(codes), "name": list(names)}, geometry=boxes, crs=4326)


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "census.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _fails(path: Path, districts: gpd.GeoDataFrame, *needles: str, err: type = SchemaError, **kw) -> str:
    with pytest.raises(err) as exc:
        read_census(path, districts, **kw)
    text = str(exc.value)
    assert "\n" not in text, text
    assert str(path) in text, text
    for n in needles:
        assert n in text, text
    return text


# -- the population column ------------------------------------------------------------------------

def test_pop_2022_is_taken_and_not_called_2020(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,pop_2022\nRegião Oeste,120345\nSão Paulo,98001\n")
    c = read_census(p, _districts(LATIN[:2]))
    assert list(c.columns) == ["adcode", "name", "population", "pop_2020", "urban_share", "population_year"]
    assert c["name"].tolist() == ["Região Oeste", "São Paulo"]
    assert c["adcode"].tolist() == ["D01", "D02"]
    assert c["population"].tolist() == [120345, 98001]
    assert c["population_year"].tolist() == [2022, 2022]
    assert c["pop_2020"].isna().all()
    assert c["urban_share"].tolist() == [1.0, 1.0]


def test_most_recent_year_wins_and_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = _write(tmp_path, "name,pop_2010,POP_2022,pop_2015\nCrème,1,3,2\n")
    with caplog.at_level(logging.INFO, logger="cityplan.city.districts"):
        c = read_census(p, _districts(("Crème",)))
    assert c["population"].tolist() == [3]
    assert c["population_year"].tolist() == [2022]
    assert "'POP_2022', the most recent of ['pop_2010', 'pop_2015', 'POP_2022']" in caplog.text


@pytest.mark.parametrize(("header", "year", "pop_2020"), [
    ("population", None, 5),      # no year named: kept as the census figure of the catalog (pop_2020)
    ("pop_2020", 2020, 5),
    ("Pop", None, 5),
    (" Inhabitants ", None, 5),
    ("RESIDENTS", None, 5),
    ("\ufeffpop_2021", 2021, None),  # a BOM left in the header (file decoded as cp1252 elsewhere)
])
def test_population_headers(tmp_path: Path, header: str, year: int | None, pop_2020: int | None) -> None:
    p = _write(tmp_path, f"name,{header}\nCrème,5\n")
    c = read_census(p, _districts(("Crème",)))
    assert c["population"].tolist() == [5]
    assert (None if pd.isna(c["population_year"].iloc[0]) else int(c["population_year"].iloc[0])) == year
    assert (None if pd.isna(c["pop_2020"].iloc[0]) else int(c["pop_2020"].iloc[0])) == pop_2020


def test_population_before_years_and_fallbacks(tmp_path: Path) -> None:
    p = _write(tmp_path, "pop,name,pop_2022,population,residents\n1,Crème,2,3,4\n")
    assert read_census(p, _districts(("Crème",)))["population"].tolist() == [3]
    p = _write(tmp_path, "pop,name,pop_2022,residents\n1,Crème,2,4\n")
    assert read_census(p, _districts(("Crème",)))["population"].tolist() == [2]
    p = _write(tmp_path, "residents,name,pop\n4,Crème,1\n")
    assert read_census(p, _districts(("Crème",)))["population"].tolist() == [1]


def test_population_column_option(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,Einwohner 2023,pop_2022\nDüsseldorf,629047,620000\n")
    d = _districts(("Düsseldorf",))
    c = read_census(p, d, population_column="einwohner 2023")
    assert c["population"].tolist() == [629047] and c["population_year"].isna().all()
    assert c["pop_2020"].tolist() == [629047]
    c = read_census(p, d, population_column="pop_2022")
    assert c["population"].tolist() == [620000] and c["population_year"].tolist() == [2022]
    _fails(p, d, "'habitantes'", "--population-column", "['name', 'Einwohner 2023', 'pop_2022']",
           population_column="habitantes")


def test_no_population_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,habitantes\nCrème,5\n")
    _fails(p, _districts(("Crème",)), "no population column", "['name', 'habitantes']", "--population-column")


# -- separators and numbers -----------------------------------------------------------------------

def test_semicolon_with_decimal_comma(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = _write(tmp_path, "nome;pop_2022;urban_share\nRegião Oeste;1.234.567;0,85\nSão Paulo;12.345;1\n"
                         "Düsseldorf;12 345;0,5\nCrème;987;0\n")
    with caplog.at_level(logging.INFO, logger="cityplan.io.read"):
        c = read_census(p, _districts(LATIN), name_column="nome")
    assert c["population"].tolist() == [1234567, 12345, 12345, 987]
    assert c["urban_share"].tolist() == [0.85, 1.0, 0.5, 0.0]
    assert c["population_year"].tolist() == [2022] * 4
    assert "semicolon-separated, decimal mark ','" in caplog.text


def test_comma_file_thousands(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name,population,urban_share\nRegião Oeste,"1,234,567",0.25\n'
                         "São Paulo,12 345,1\nDüsseldorf,12\u00a0345,1\nCrème,12345.0,1\n")
    c = read_census(p, _districts(LATIN))
    assert c["population"].tolist() == [1234567, 12345, 12345, 12345]
    assert str(c["population"].dtype) == "Int64"
    assert c["urban_share"].tolist() == [0.25, 1.0, 1.0, 1.0]


def test_tab_separated(tmp_path: Path) -> None:
    p = _write(tmp_path, "name\tpop_2019\nSão Paulo\t11.5\nCrème\t3\n")
    c = read_census(p, _districts(LATIN))
    assert c["name"].tolist() == ["São Paulo", "Crème"]
    assert c["population"].tolist() == [11.5, 3.0]
    assert c["population_year"].tolist() == [2019, 2019]


@pytest.mark.parametrize(("text", "decimal", "value"), [
    ("12345", ".", 12345.0), ("12,345", ".", 12345.0), ("1,234,567.5", ".", 1234567.5),
    ("12 345", ".", 12345.0), ("12'345", ".", 12345.0), (" 7.25 ", ".", 7.25), ("-3", ".", -3.0),
    ("12,5", ".", None), ("1,23,456", ".", None), ("12.345,6", ".", None), ("12,345.", ".", None),
    ("12.345", ",", 12345.0), ("1.234.567,5", ",", 1234567.5), ("12 345", ",", 12345.0),
    ("12345,6", ",", 12345.6), ("12,345", ",", 12.345), ("1,234,567", ",", None),
    ("12.34", ",", None), ("12.345.6", ",", None),
    ("", ".", None), ("n/a", ".", None), ("12 %", ".", None), ("1e5", ".", None),
])
def test_parse_number(text: str, decimal: str, value: float | None) -> None:
    assert parse_number(text, decimal=decimal) == value


def test_number_errors_name_file_row_column_value_fix(tmp_path: Path) -> None:
    d = _districts(LATIN[:3])
    # a blank line is a row in a spreadsheet too: the bad value is on spreadsheet row 4
    p = _write(tmp_path, "name,population\nRegião Oeste,5\n\nSão Paulo,\"12,5\"\nDüsseldorf,1\n")
    _fails(p, d, "row 4 (counting the header as row 1)", "column 'population'", "'12,5' is not a number",
           "',' or a space groups thousands", "save the file with ; as separator")
    p = _write(tmp_path, "name;population\nRegião Oeste;5\nSão Paulo;1,234,567\nDüsseldorf;1\n")
    _fails(p, d, "row 3 (", "'1,234,567' is not a number", "',' is the decimal mark and '.' or a space")
    p = _write(tmp_path, "name;population\nRegião Oeste;5\nSão Paulo;\nDüsseldorf;1\n")
    _fails(p, d, "row 3 (", "'' is not a number", "give the number of residents (0 if none)")
    p = _write(tmp_path, "name,population\nRegião Oeste,5\nSão Paulo,-4\nDüsseldorf,1\n")
    _fails(p, d, "row 3 (", "'-4' is negative", ">= 0")
    p = _write(tmp_path, "name;population;urban_share\nRegião Oeste;5;0,5\nSão Paulo;4;85\nDüsseldorf;1;1\n")
    _fails(p, d, "row 3 (", "column 'urban_share'", "'85' is not a share between 0 and 1")


def test_three_decimals_in_a_comma_file_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = _write(tmp_path, "name,population\nCrème,12.345\n")
    with caplog.at_level(logging.WARNING, logger="cityplan.city.districts"):
        c = read_census(p, _districts(("Crème",)))
    assert c["population"].tolist() == [12.345]
    assert "row 2 '12.345' read as 12.345; if '.' groups thousands there" in caplog.text


@pytest.mark.parametrize(("text", "sep"), [
    ("a,b,c\n1,2,3\n", ","), ("a;b;c\n1,5;2;3\n", ";"), ("a\tb\n1,5\t2\n", "\t"), ("a\n1\n", ","),
    ('"x;y",b\n1,2\n', ","), ("\n\nname;pop,2022\nA;1\n", ";"), ("pop\n12,5\n", ";"),
])
def test_detect_separator(text: str, sep: str) -> None:
    assert detect_separator(text) == sep


def test_read_table_semicolon_infers_decimal_comma(tmp_path: Path) -> None:
    """Other callers (catalog csv_table sources, quota imports) get typed columns."""
    p = _write(tmp_path, "district;quota;share\nA;12;0,5\nB;7;1,25\n")
    t = read_table(p)
    assert t.attrs == {"encoding": "utf-8", "sep": ";", "decimal": ","}
    assert t["share"].tolist() == [0.5, 1.25] and t["quota"].tolist() == [12, 7]
    p = _write(tmp_path, "district,quota\nA,12\n")
    t = read_table(p)
    assert t.attrs["sep"] == "," and t["quota"].tolist() == [12]


def test_ragged_semicolon_row(tmp_path: Path) -> None:
    p = _write(tmp_path, "name;population\nCrème;1;2\n")
    with pytest.raises(SchemaError, match=r"line 2 \(row 0\) has 3 fields but the header has 2 .*semicolons"):
        read_table(p)


# -- encodings ------------------------------------------------------------------------------------

def test_latin1_census_decodes_as_latin(tmp_path: Path) -> None:
    rows = "".join(f"{n};{i + 1}\n" for i, n in enumerate(LATIN))
    p = _write(tmp_path, "name;pop_2022\n" + rows, encoding="latin-1")
    c = read_census(p, _districts(LATIN))
    assert c["name"].tolist() == list(LATIN)
    assert c["population"].tolist() == [1, 2, 3, 4]
    t = read_table(p, as_text=True)
    assert t.attrs["encoding"] == "cp1252"
    assert t["name"].tolist() == list(LATIN)  # not 'Regi鉶 Oeste'


def test_gb18030_census_decodes_as_chinese(tmp_path: Path) -> None:
    p = _write(tmp_path, "区划代码,名称,人口\n230103,南岗区,1100000\n230102,道里区,960000\n", encoding="gb18030")
    c = read_census(p, _districts(CHINESE, ("230103", "230102")))
    assert c["name"].tolist() == ["南岗区", "道里区"]
    assert c["population"].tolist() == [1100000, 960000]
    t = read_table(p, as_text=True)
    assert t.attrs["encoding"] == "gb18030" and list(t.columns) == ["区划代码", "名称", "人口"]


def test_utf8_with_bom(tmp_path: Path) -> None:
    p = _write(tmp_path, "\ufeffname,pop_2022\nDüsseldorf,5\n南岗区,6\n")
    c = read_census(p, _districts(("Düsseldorf", "南岗区")))
    assert c["name"].tolist() == ["Düsseldorf", "南岗区"] and c["population"].tolist() == [5, 6]
    assert read_table(p).columns.tolist() == ["name", "pop_2022"]


def test_explicit_encoding_overrides_detection(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,population\nSão Paulo,5\n", encoding="latin-1")
    assert read_census(p, _districts(("São Paulo",)), encoding="latin-1")["name"].tolist() == ["São Paulo"]
    # the same bytes forced to GB 18030 give the mojibake of the bug report: no such district
    _fails(p, _districts(("São Paulo",)), "'S鉶 Paulo' is not a district", encoding="gb18030")
    with pytest.raises(EncodingError, match=r"line 2 is not valid utf-8"):
        read_census(p, _districts(("São Paulo",)), encoding="utf-8")


@pytest.mark.parametrize(("data", "needles"), [
    ("name,population\nCrème,5\n".encode("utf-16"), ("UTF-16", "byte-order mark FF FE", "--encoding utf-16")),
    ("name,population\nCrème,5\n".encode("utf-16-le"), ("UTF-16 text without byte-order mark",)),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)), ("binary file (a ZIP archive or XLSX workbook)",)),
    (b"name,population\nCr\x01me,5\n", ("line 2 holds control character", "binary")),
    (b"name,population\n\x81 x,5\n", ("reads as neither Chinese (GB 18030) nor Western text",)),
])
def test_utf16_and_binary_are_refused(tmp_path: Path, data: bytes, needles: tuple[str, ...]) -> None:
    p = tmp_path / "census.csv"
    p.write_bytes(data)
    _fails(p, _districts(("Crème",)), *needles, err=EncodingError)


@pytest.mark.parametrize("word", [*LATIN, "População", "Straße", "Ñuñoa", "Élysée", "Besançon", "Zürich"])
def test_latin_words_are_never_gb18030(word: str) -> None:
    data = f"name,population\n{word},5\n".encode("cp1252")
    assert decode_table(data, None, source="t.csv") == (f"name,population\n{word},5\n", "cp1252")


@pytest.mark.parametrize("word", [*CHINESE, "哈尔滨（市辖区）", "1号楼", "黑龙江省齐齐哈尔市"])
def test_chinese_words_are_gb18030(word: str) -> None:
    data = f"名称,人口\n{word},5\n".encode("gb18030")
    assert decode_table(data, None, source="t.csv") == (f"名称,人口\n{word},5\n", "gb18030")


def test_point_tables_no_longer_read_latin_as_gbk(tmp_path: Path) -> None:
    """decode_text (point lists, 界址点 files) keeps refusing Western text, now also when
    GB 18030 happens to decode it (it used to return 'Regi鉶 Oeste')."""
    data = "name,lon,lat\nRegião Oeste,126.6,45.7\n".encode("latin-1")
    with pytest.raises(EncodingError, match=r"line 2 is not UTF-8 .*--encoding cp1252 \('Região'\)"):
        decode_text(data, None, source="p.csv")
    p = tmp_path / "points.csv"
    p.write_bytes(data)
    with pytest.raises(EncodingError, match="--encoding latin-1"):
        read_vector(p, crs="wgs84")
    assert read_vector(p, crs="wgs84", encoding="latin-1")["name"].tolist() == ["Região Oeste"]
    assert decode_text("名称\n南岗区\n".encode("gbk"), None, source="p.csv") == ("名称\n南岗区\n", "gbk")


# -- matching the districts -----------------------------------------------------------------------

def test_names_match_without_adcode_case_space_nfc(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "São Paulo")
    assert nfd != "São Paulo"
    p = _write(tmp_path, f"Name,population\n  região   OESTE ,1\n{nfd},2\nDÜSSELDORF,3\ncrème,4\n")
    c = read_census(p, _districts(LATIN))
    assert c["name"].tolist() == list(LATIN) and c["adcode"].tolist() == ["D01", "D02", "D03", "D04"]
    assert c["population"].tolist() == [1, 2, 3, 4]


def test_name_column_option(tmp_path: Path) -> None:
    p = _write(tmp_path, "Bairro,Município,pop_2022\nRegião Oeste,São Paulo,7\n")
    c = read_census(p, _districts(("Região Oeste",)), name_column="bairro")
    assert c["name"].tolist() == ["Região Oeste"] and c["population"].tolist() == [7]


def test_unknown_name_is_one_line_with_valid_names(tmp_path: Path) -> None:
    p = _write(tmp_path, "name,population\nRegião Oeste,1\nSao Paulo,2\n")
    _fails(p, _districts(LATIN), "row 3 (counting the header as row 1)", "column 'name'",
           "'Sao Paulo' is not a district", "did you mean 'São Paulo'?",
           "valid names: ['Crème', 'Düsseldorf', 'Região Oeste', 'São Paulo']")


def test_adcode_preferred_then_name(tmp_path: Path) -> None:
    d = _districts(CHINESE, ("230103", "230102"))
    # adcodes as a spreadsheet wrote them (230102.0) still match
    p = _write(tmp_path, "adcode,name,population\n230102.0,whatever,2\n230103,other,1\n")
    assert read_census(p, d)["name"].tolist() == ["道里区", "南岗区"]
    # districts abroad: the census' codes are not the districts' (D01...), the names are
    d2 = _districts(LATIN[:2])
    p = _write(tmp_path, "adcode,name,population\n3550308,São Paulo,2\n1234,Região Oeste,1\n")
    assert read_census(p, d2)["adcode"].tolist() == ["D02", "D01"]
    p = _write(tmp_path, "adcode,population\n230103,1\n999999,2\n")
    _fails(p, d, "row 3 (", "column 'adcode'", "'999999' is not a district", "valid adcodes: ['230102', '230103']")


def test_missing_key_and_duplicates(tmp_path: Path) -> None:
    d = _districts(LATIN[:2])
    _fails(_write(tmp_path, "bairro,population\nSão Paulo,1\n"), d, "no 'adcode' or district name column",
           "--name-column", "['bairro', 'population']")
    _fails(_write(tmp_path, "name,population\nSão Paulo,1\n ,2\n"), d, "row 3 (", "has no name in column 'name'")
    _fails(_write(tmp_path, "name,population\nSão Paulo,1\nRegião Oeste,1\nsão paulo,2\n"), d,
           "rows 2 and 4 (", "'São Paulo'", "one row per district")


# -- end to end: `city new` with a census in a European office's form ----------------------------

def test_city_new_with_semicolon_latin1_pop_2022(tmp_path: Path) -> None:
    import synthetic_city as syn
    from cityplan.city import new_city

    src = syn.write_city(tmp_path / "src")
    census = tmp_path / "censo.csv"
    census.write_bytes("adcode;Região;pop_2022;urban_share\n990101;Região Oeste;16.000;1\n"
                       "990102;Região Leste;32.000;0,5\n".encode("latin-1"))
    new_city("X", osm=src.osm, districts=src.districts, census=census, out=tmp_path / "city")
    c = pd.read_csv(tmp_path / "city" / CENSUS_FILE, encoding="utf-8-sig", dtype={"adcode": str})
    assert c["adcode"].tolist() == ["990101", "990102"]
    assert c["name"].tolist() == ["西城区", "东城区"]
    assert c["population"].tolist() == [16000, 32000]
    assert c["urban_share"].tolist() == [1.0, 0.5]
    assert c["population_year"].tolist() == [2022, 2022]
    assert c["pop_2020"].isna().all()
