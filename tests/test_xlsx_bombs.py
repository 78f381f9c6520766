"""Issue 22, item 1: an .xlsx that unpacks to far more than it weighs is
refused at the file field, and reading it costs the web process nothing:
the parsing runs in a child process under memory and CPU limits, and each
bound (unpacked size, cell length, rows, columns) has its own message."""

import logging
import re
import tracemalloc

import pytest
from sqlalchemy import func, select

from models import Recipient, db
from models.sharing.rows import CELL_MAX, XLSX_MEMORY_MAX, XLSX_ROWS_MAX, XLSX_UNPACKED_MAX
from tests.fixtures.xlsx import END, MB, SHEET, empty_cells, one_cell, rows, shared_strings, wide_row, xlsx
from tests.test_recipients import draft, upload  # noqa: F401  (a fixture)
from tests.test_sharing import survey, with_access  # noqa: F401  (fixtures)

BOMBS = {
    # (the file, the message at the file field)
    "unpacks-past-the-bound": (
        lambda: xlsx(one_cell(XLSX_UNPACKED_MAX + MB)),
        "Denne Excel-fil er for stor til at blive læst",
    ),
    "one-long-cell": (lambda: xlsx(one_cell(2 * MB)), "En celle indeholder mere end"),
    "two-million-rows": (lambda: xlsx(rows(2_000_000)), "Denne Excel-fil er for stor til at blive læst"),
    "a-row-of-thirty-million-empty-cells": (lambda: xlsx(empty_cells(30_000_000)), "Filen har for mange kolonner"),
    "a-row-of-a-hundred-thousand-cells": (lambda: xlsx(empty_cells(100_000)), "Filen har for mange kolonner"),
    "declared-a-million-rows": (
        lambda: xlsx(
            [SHEET % b'<dimension ref="A1:XFD1048576"/>', b'<row r="1048576"><c r="A1"><v>1</v></c></row>' + END]
        ),
        "Denne Excel-fil har mere end 101.000 rækker. Gem den som CSV",
    ),
    "a-row-of-ten-million-cells": (lambda: xlsx(wide_row(10_000_000)), "Denne Excel-fil er for stor til at blive læst"),
    "ten-million-shared-strings": (
        lambda: xlsx(rows(1), shared=shared_strings(10_000_000)),
        "Denne Excel-fil er for stor til at blive læst",
    ),
}


@pytest.mark.parametrize("bomb", BOMBS, ids=list(BOMBS))
def test_an_excel_bomb_is_refused_at_the_file_field_within_bounds(as_member, draft, caplog, bomb):
    build, message = BOMBS[bomb]
    content = build()
    assert len(content) < 16 * MB  # each fits through the upload limit
    caplog.set_level(logging.INFO, logger="models.sharing.rows")
    tracemalloc.start()
    try:
        response = upload(as_member, draft, content, "liste.xlsx")
        _, web_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert re.search(r'id="file-error"[^>]*>[^<]*' + re.escape(message), page), "the message is at the file field"
    assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0
    # What it cost: the web process held little beyond the upload itself, and
    # the reader stayed within its limits.
    assert web_peak < len(content) + 32 * MB, f"web process peak {web_peak / MB:.0f} MB"
    (usage,) = [r for r in caplog.records if r.getMessage().startswith("xlsx read")]
    peak_mb, cpu = (float(x) for x in re.findall(r"([\d.]+) (?:MB|s)", usage.getMessage()))
    assert peak_mb <= XLSX_MEMORY_MAX / MB
    assert cpu < 60, usage.getMessage()


def test_an_excel_sheet_of_a_hundred_thousand_recipients_is_within_every_bound(as_member, draft):
    """The bounds leave room for what a member really uploads in Excel: a
    header, a cell at the length limit, and 100,000 recipients (a longer
    list comes as CSV)."""
    sheet = [
        SHEET
        % b'<dimension ref="A1:B%d"/>'
        % XLSX_ROWS_MAX
        + b'<row r="1"><c r="A1" t="inlineStr"><is><t>cpr</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>note</t></is></c></row>',
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>0101901234</t></is></c>'
        b'<c r="B2" t="inlineStr"><is><t>' + b"x" * CELL_MAX + b"</t></is></c></row>",
        b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (n, n) for n in range(3, XLSX_ROWS_MAX + 1)),
        END,
    ]
    response = upload(as_member, draft, xlsx(sheet), "liste.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    # The long note is too long for a variable (a row failure), and the
    # numbers are not CPR numbers: read to the end, refused row by row.
    assert "Filen har mere end" not in page and "En celle" not in page
