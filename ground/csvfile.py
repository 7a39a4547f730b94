"""The CSV files staff keep in spreadsheets (the registry, a backtest's labels): decoding, the header, the rows.

A spreadsheet in China saves CSV as UTF-8 (with or without a BOM) or as GB18030. The header is row 1; its
column names are matched without case or surrounding spaces, in any order; an unknown or a missing column
refuses the file. Each row after it is numbered as a spreadsheet shows it, and blank rows are skipped (their
number is used up all the same), so a message "file: row N, column C: ..." points where a person looks.

    table = CsvTable(text, "households.csv", COLUMNS, ("record", "code"), MyFileError)
    for row, cells in table.rows():      # cells: the row's cells, or the csv.Error of an unreadable row
        ...
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence

#: the encodings tried, in order, on a CSV file's bytes
ENCODINGS = ("utf-8-sig", "gb18030")


def decode(data: bytes, source: str, error: Callable[[str], Exception]) -> str:
    """The text of a CSV file's bytes: UTF-8 (a BOM dropped) or else GB18030; error(message) if neither."""
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise error(f"{source}: neither UTF-8 nor GB18030 text")


class CsvTable:
    """A CSV text whose header (row 1) has been read and checked; error(message) refuses the file as a whole."""

    def __init__(self, text: str, source: str, columns: Sequence[str], required: Iterable[str],
                 error: Callable[[str], Exception]) -> None:
        self.source = source
        self._reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip().lower() for h in next(self._reader)]
        except StopIteration:
            raise error(f"{source}: empty file") from None
        except csv.Error as exc:
            raise error(f"{source}: row 1: {exc}") from None
        unknown = [h for h in header if h not in columns]
        if unknown:
            raise error(f"{source}: row 1: unknown column {unknown[0]!r}; columns are {', '.join(columns)}")
        for need in required:
            if need not in header:
                raise error(f"{source}: row 1: missing column {need!r}")
        self.header = header

    @property
    def line_num(self) -> int:
        """Lines of the text read so far (a quoted cell may span lines)."""
        return self._reader.line_num

    def rows(self) -> Iterator[tuple[int, list[str] | csv.Error]]:
        """(row number, cells) of each row that is not blank; (row number, the csv.Error) of a row that cannot be
        read. The caller may stop there or go on to the next row."""
        row = 1
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row += 1
                yield row, exc
                continue
            row += 1
            if not any(c.strip() for c in cells):
                continue
            yield row, cells
