"""The back-office's CSV exports, written for the spreadsheet staff open them in. A text cell that begins
like a formula (=, +, -, @, a tab or a carriage return) would be run as one by LibreOffice or Excel: a
resident's name such as =HYPERLINK(...) could send the sheet's data elsewhere. Such a cell is written as
text, behind an apostrophe (OWASP's advice on CSV injection); numbers are left alone."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """The value as the spreadsheet must read it: text that looks like a formula stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()
