"""The one reader of the CSV files staff keep (registry, backtest labels): decoding, header, numbered rows."""

from __future__ import annotations

import csv

import pytest

from ground.csvfile import CsvTable, decode


class FileError(Exception):
    pass


def table(text: str) -> CsvTable:
    return CsvTable(text, "f.csv", ("code", "name", "note"), ("code",), FileError)


def test_utf8_with_or_without_bom_and_gb18030_decode_to_the_same_text() -> None:
    text = "code,name\r\nhh-1,王秀英\r\n"
    for data in (text.encode(), ("\ufeff" + text).encode(), text.encode("gb18030")):
        assert decode(data, "f.csv", FileError) == text
    with pytest.raises(FileError, match=r"^f\.csv: neither UTF-8 nor GB18030 text$"):
        decode(b"\x81", "f.csv", FileError)


def test_the_header_is_matched_without_case_or_spaces_and_checked() -> None:
    assert table(" Code ,NAME\n").header == ["code", "name"]
    for text, message in [("", "f.csv: empty file"),
                          ("code,phone\n", "f.csv: row 1: unknown column 'phone'; columns are code, name, note"),
                          ("name,note\n", "f.csv: row 1: missing column 'code'"),
                          ("code," + "x" * 200_000 + "\n", "f.csv: row 1: field larger than field limit (131072)")]:
        with pytest.raises(FileError) as err:
            table(text)
        assert str(err.value) == message


def test_rows_carry_the_number_a_spreadsheet_shows_and_blank_rows_are_skipped() -> None:
    rows = list(table('code,name\nhh-1,a\n\n , \n"hh-2","b\nc"\nhh-3\n').rows())
    assert rows == [(2, ["hh-1", "a"]), (5, ["hh-2", "b\nc"]), (6, ["hh-3"])]


def test_an_unreadable_row_is_numbered_and_the_reader_can_go_on() -> None:
    t = table("code,name\nhh-1,a\n" + "x" * 200_000 + ",b\nhh-3,c\n")
    got = list(t.rows())
    assert [r for r, _ in got] == [2, 3, 4]
    assert isinstance(got[1][1], csv.Error) and "field larger than field limit" in str(got[1][1])
    assert got[2] == (4, ["hh-3", "c"])
    t = table('code,name\n"hh-1\nstill hh-1",a\n' + "x" * 200_000 + ",b\n")
    for row, cells in t.rows():
        if isinstance(cells, csv.Error):
            assert (row, t.line_num) == (3, 4)  # the row a spreadsheet shows; the line of the text
            break
    else:
        pytest.fail("the unreadable row was not reported")
