"""Every CSV cell we write is safe to open in a spreadsheet (OWASP's rule against CSV injection).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets, and student ids and names come from students (Moodle builds the id from a name the student
can edit). Such a cell is written with a leading ``'``, which spreadsheets show as text and do not display; a
cell that already starts with ``'`` gets one more, so that ``read_cell`` gives back exactly what was written
(resume reads grades.csv again).
"""

from __future__ import annotations

import csv
import io

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """``value`` as the text of a CSV cell that no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(TRIGGERS + ("'",)) else text


def read_cell(text: str) -> str:
    """The value ``safe_cell`` was given."""
    return text[1:] if text.startswith("'") else text


def write_rows(header: list[str], rows, dict_rows: bool = False) -> str:
    """CSV text of ``header`` and ``rows`` (lists, or dicts keyed by the header when ``dict_rows``), every cell
    made safe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        values = [row.get(h, "") for h in header] if dict_rows else row
        writer.writerow([safe_cell(v) for v in values])
    return buf.getvalue()


def read_dicts(f) -> list[dict[str, str]]:
    """The rows of a CSV file written by ``write_rows``, as dicts, every cell as it was given."""
    reader = csv.reader(f)
    header = [read_cell(h) for h in next(reader, [])]
    return [dict(zip(header, (read_cell(v) for v in row))) for row in reader]
