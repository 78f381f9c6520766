"""Recipient rows read from what a member gives: CSV text pasted, or a CSV
or Excel (.xlsx) file uploaded. Pure: nothing here touches the database;
`models.sharing.recipients` stores what this yields.

Files are read as streams, row by row, so memory does not grow with the
file. Every row is validated; a row that fails is reported with its row
number, the reason and the CPR masked.
"""

import codecs
import csv
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import lazy_gettext as _l

from digitalpost import InvalidCPR, mask_cpr, normalize_cpr
from digitalpost.memo import CONTROL_CHARACTERS
from models.sharing import (
    LANGUAGES,
    MAX_VARIABLES,
    NAME_MAX,
    VARIABLE_MAX,
    max_recipients,
)
from models.sharing.xlsx_reader import LIMIT_KEYS
from models.sharing.xlsx_reader import Exit as XlsxExit

log = logging.getLogger(__name__)

FAILURES_KEPT = 200
PASTE_MAX_BYTES = 8 * 1024 * 1024
# Rows read from one file beyond the share's recipients, blank ones included,
# before it is refused: room for a header and some blank or failing rows.
ROWS_SPARE = 1_000


def upload_max_bytes() -> int:
    """The largest recipient file (the SHARE_UPLOAD_MAX_MB setting)."""
    return current_app.config["SHARE_UPLOAD_MAX_MB"] * 2**20


def rows_max() -> int:
    return max_recipients() + ROWS_SPARE


# An .xlsx is read whole by its own process within fixed bounds, so it holds
# fewer rows than a share may have; a longer list comes as CSV, which is
# streamed.
XLSX_ROWS_MAX = 100_000 + ROWS_SPARE
# Longer than any value a row may have (names and variables are far
# shorter); a longer cell is not a recipient list.
CELL_MAX = 10_000
# What one .xlsx may unpack to: the bytes, and the XML elements (a cell is
# two or three: <c><v>, or <c><is><t>; a shared string two).
XLSX_UNPACKED_MAX = 128 * 1024 * 1024
XLSX_ELEMENTS_MAX = XLSX_ROWS_MAX * 40
# Cells in one row: every field and variable, and room for empty columns.
XLSX_COLUMNS_MAX = 64
XLSX_MEMORY_MAX = 512 * 1024 * 1024

# Column names, in either language (ux-labels), to the recipient's fields.
COLUMNS = {
    "firstname": "first_name",
    "fornavn": "first_name",
    "first_name": "first_name",
    "lastname": "last_name",
    "efternavn": "last_name",
    "last_name": "last_name",
    "cpr": "cpr",
    "cprnr": "cpr",
    "cpr-nummer": "cpr",
    "language": "language",
    "sprog": "language",
}
POSITIONAL = ("first_name", "last_name", "cpr", "language")
LANGUAGE_WORDS = {"da": "da", "dansk": "da", "danish": "da", "en": "en", "engelsk": "en", "english": "en"}
VARIABLE_NAME = re.compile(r"[^A-ZÆØÅ0-9_]+")


class ImportSource(StrEnum):
    MANUAL = "manual"
    PASTE = "paste"
    UPLOAD = "upload"


class RowError(StrEnum):
    CPR_MISSING = "cpr_missing"
    CPR_FORMAT = "cpr_format"
    CPR_DATE = "cpr_date"
    LANGUAGE = "language"
    TOO_LONG = "too_long"
    CONTROL_CHARACTERS = "control_characters"
    CPR_IN_VARIABLE = "cpr_in_variable"

    @property
    def label(self) -> str:
        return str(
            {
                RowError.CPR_MISSING: _l("CPR number missing"),
                RowError.CPR_FORMAT: _l("CPR number must have 10 digits"),
                RowError.CPR_DATE: _l("CPR number does not start with a real date"),
                RowError.LANGUAGE: _l("Language must be da or en"),
                RowError.TOO_LONG: _l("A value is too long"),
                RowError.CONTROL_CHARACTERS: _l(
                    "Contains an invisible control character (such as BEL or ESC), which a letter cannot carry"
                ),
                RowError.CPR_IN_VARIABLE: _l(
                    "Holds a CPR number. A CPR number belongs only in the cpr column, where it is kept encrypted"
                ),
            }[self]
        )


class FileError(StrEnum):
    EMPTY = "empty"
    NOT_TEXT = "not_text"
    NOT_XLSX = "not_xlsx"
    NO_CPR_COLUMN = "no_cpr_column"
    TOO_MANY = "too_many"
    TOO_LARGE = "too_large"
    TOO_MANY_COLUMNS = "too_many_columns"
    TOO_MANY_ROWS = "too_many_rows"
    XLSX_TOO_MANY_ROWS = "xlsx_too_many_rows"
    CELL_TOO_LONG = "cell_too_long"
    XLSX_TOO_LARGE = "xlsx_too_large"

    @property
    def label(self) -> str:
        return str(
            {
                FileError.EMPTY: _l("The file has no rows."),
                FileError.NOT_TEXT: _l("This is not a CSV file or an Excel (.xlsx) file."),
                FileError.NOT_XLSX: _l("This file could not be read as an Excel (.xlsx) file."),
                FileError.NO_CPR_COLUMN: _l("The header row has no cpr column."),
                FileError.TOO_MANY: _l(
                    "A share can have at most %(max)s recipients. Split the list into several shares.",
                    max=f"{max_recipients():,}".replace(",", "."),
                ),
                FileError.TOO_LARGE: _l("The file is too large (at most %(mb)d MB).", mb=upload_max_bytes() // 2**20),
                FileError.TOO_MANY_COLUMNS: _l(
                    "The file has too many columns (at most %(n)d background variables).", n=MAX_VARIABLES
                ),
                FileError.TOO_MANY_ROWS: _l(
                    "The file has more than %(max)s rows. Split the list into several shares.",
                    max=f"{rows_max():,}".replace(",", "."),
                ),
                FileError.XLSX_TOO_MANY_ROWS: _l(
                    "This Excel file has more than %(max)s rows. Save it as CSV (UTF-8) and upload that: "
                    "a CSV file may hold every recipient a share can have.",
                    max=f"{XLSX_ROWS_MAX:,}".replace(",", "."),
                ),
                FileError.CELL_TOO_LONG: _l(
                    "A cell holds more than %(max)s characters, which no recipient's value does.",
                    max=f"{CELL_MAX:,}".replace(",", "."),
                ),
                FileError.XLSX_TOO_LARGE: _l(
                    "This Excel file is too large to read: unpacked, it holds more than %(mb)d MB or "
                    "%(cells)s cells. Save it as CSV (UTF-8) and upload that.",
                    mb=XLSX_UNPACKED_MAX // 2**20,
                    cells=f"{XLSX_ELEMENTS_MAX // 2:,}".replace(",", "."),
                ),
            }[self]
        )


class ImportRefused(Exception):
    def __init__(self, error: FileError):
        self.error = error
        super().__init__(error.value)


@dataclass
class ValidRow:
    first_name: str
    last_name: str
    cpr: str
    language: str
    variables: dict | None = None


@dataclass
class Report:
    rows: int = 0
    valid: int = 0
    failures: list = field(default_factory=list)
    failed: int = 0

    def fail(self, row_no: int, failure: "RowFailure", cpr: str = "", name: str = "") -> None:
        self.failed += 1
        if len(self.failures) < FAILURES_KEPT:
            self.failures.append(
                {
                    "row": row_no,
                    "error": failure.error.value,
                    "column": failure.column,
                    "cpr": mask_cpr(cpr) if cpr.strip() else "",
                    # Who the row is, so the member finds it in the file; cut short like no name is.
                    "name": " ".join(name.split())[:NAME_MAX],
                }
            )


@dataclass(frozen=True)
class RowFailure:
    """Why a row was refused, and the column it concerns where one does."""

    error: RowError
    column: str = ""


# --- reading ------------------------------------------------------------------


def sniff_kind(stream: BinaryIO) -> str:
    """'xlsx' or 'csv' by the content, whatever the file name says."""
    head = stream.read(8192)
    stream.seek(0)
    if not head:
        raise ImportRefused(FileError.EMPTY)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if b"\x00" in head:
        raise ImportRefused(FileError.NOT_TEXT)
    return "csv"


def text_stream(stream: BinaryIO) -> io.TextIOBase:
    """UTF-8 (with or without a byte-order mark) or Windows-1252, as Danish
    spreadsheets export. One streaming pass checks UTF-8; then read again."""
    if stream.read(3) == codecs.BOM_UTF8:
        stream.seek(0)
        return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    try:
        while chunk := stream.read(1 << 16):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        encoding = "cp1252"
    stream.seek(0)
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")


def csv_rows(text: io.TextIOBase) -> Iterator[list[str]]:
    first = text.readline()
    delimiter = max(";,\t", key=first.count) if any(d in first for d in ";,\t") else ","
    lines = _chain_first(first, text)
    try:
        yield from csv.reader(lines, delimiter=delimiter)
    except csv.Error:  # e.g. a field over csv's size limit: not a recipient list
        raise ImportRefused(FileError.NOT_TEXT) from None


def _chain_first(first: str, rest) -> Iterator[str]:
    yield first
    yield from rest


def xlsx_rows(stream: BinaryIO) -> Iterator[list[str]]:
    """The first sheet's rows, read by models/sharing/xlsx_reader.py in a process of
    its own under xlsx_limits(): a zip bomb costs that process, not this one."""
    reader = subprocess.Popen(
        [sys.executable, "-I", XLSX_READER, json.dumps(xlsx_limits())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # it writes only its peak memory, and a traceback if it fails
    )
    read_to_end = False
    try:
        try:
            shutil.copyfileobj(stream, reader.stdin)
            reader.stdin.close()
        except BrokenPipeError:
            pass  # it stopped reading: its exit code says why
        for line in io.TextIOWrapper(reader.stdout, encoding="utf-8", newline="\n"):
            yield json.loads(line)
        read_to_end = True
    finally:
        if not read_to_end:
            reader.kill()  # the import stopped early (too many recipients) or failed
        errors = reader.stderr.read(1 << 16).decode(errors="replace")
        _, status, usage = os.wait4(reader.pid, 0)
        reader.returncode = os.waitstatus_to_exitcode(status)
        reader.stdout.close()
        reader.stderr.close()
        peak = re.search(r"^peak (\d+)$", errors, re.M)
        log.info(
            "xlsx read: exit %s, peak memory %s MB, CPU %.2f s",
            reader.returncode,
            f"{int(peak.group(1)) / 1024:.0f}" if peak else "unknown",
            usage.ru_utime + usage.ru_stime,
        )
    if reader.returncode == XlsxExit.TOO_MANY_ROWS and rows_max() <= XLSX_ROWS_MAX:
        raise ImportRefused(FileError.TOO_MANY_ROWS)  # as many as a share may have: CSV would not help
    if reader.returncode != XlsxExit.OK:
        raise ImportRefused(_XLSX_ERRORS.get(reader.returncode, FileError.XLSX_TOO_LARGE))


XLSX_READER = str(Path(__file__).with_name("xlsx_reader.py"))


# What reading one .xlsx may take; over them the file is refused (see
# models/sharing/xlsx_reader.py). A full share's sheet with every background
# variable unpacks to well under the unpacked bound.
def xlsx_limits() -> dict[str, int]:
    limits = {
        "upload_bytes": upload_max_bytes(),
        "unpacked_bytes": XLSX_UNPACKED_MAX,
        "parts": 500,
        "elements": XLSX_ELEMENTS_MAX,
        "rows": min(XLSX_ROWS_MAX, rows_max()),
        "columns": XLSX_COLUMNS_MAX,
        "cell_chars": CELL_MAX,
        "memory_bytes": XLSX_MEMORY_MAX,
        "cpu_seconds": 60,
    }
    assert set(limits) == set(LIMIT_KEYS)
    return limits


_XLSX_ERRORS = {
    XlsxExit.NOT_XLSX: FileError.NOT_XLSX,
    XlsxExit.UNCAUGHT: FileError.NOT_XLSX,
    XlsxExit.UNPACKED_TOO_LARGE: FileError.XLSX_TOO_LARGE,
    XlsxExit.OUT_OF_MEMORY: FileError.XLSX_TOO_LARGE,
    XlsxExit.TOO_MANY_ROWS: FileError.XLSX_TOO_MANY_ROWS,
    XlsxExit.CELL_TOO_LONG: FileError.CELL_TOO_LONG,
    XlsxExit.TOO_MANY_COLUMNS: FileError.TOO_MANY_COLUMNS,
}  # anything else (killed at the CPU limit, say) is too large too


# --- validating ---------------------------------------------------------------


def header_map(cells: list[str]) -> list[tuple[str, str]] | None:
    """[(kind, name)] for a header row, or None when the row is data.
    kind is a field name or 'variable'."""
    folded = [c.strip().casefold() for c in cells]
    if not any(c in COLUMNS for c in folded):
        return None
    mapping = []
    for raw, key in zip(cells, folded):
        if key in COLUMNS:
            mapping.append((COLUMNS[key], key))
        elif key:
            mapping.append(("variable", VARIABLE_NAME.sub("_", raw.strip().upper()).strip("_") or "VAR"))
        else:
            mapping.append(("skip", ""))
    if not any(kind == "cpr" for kind, _ in mapping):
        raise ImportRefused(FileError.NO_CPR_COLUMN)
    if sum(kind == "variable" for kind, _ in mapping) > MAX_VARIABLES:
        raise ImportRefused(FileError.TOO_MANY_COLUMNS)
    return mapping


def positional_map(width: int) -> list[tuple[str, str]]:
    if width == 1:
        return [("cpr", "cpr")]
    return [(name, name) for name in POSITIONAL[:width]] + [("skip", "")] * max(0, width - len(POSITIONAL))


CPR_SHAPED = re.compile(r"(?<![0-9])([0-9]{6})[- ]?([0-9]{4})(?![0-9])")


def holds_cpr(text: str) -> bool:
    """A CPR number anywhere in the text: ten ASCII digits, perhaps with a
    dash or space after six, that start with a real date."""
    for match in CPR_SHAPED.finditer(text):
        try:
            normalize_cpr(match.group(1) + match.group(2))
            return True
        except InvalidCPR:
            continue
    return False


def _text_failure(first: str, last: str, variables: dict) -> RowFailure | None:
    """The first of the row's texts that is too long or holds a control character."""
    texts = {"first_name": (first, NAME_MAX), "last_name": (last, NAME_MAX)}
    texts.update({name: (value, VARIABLE_MAX) for name, value in variables.items()})
    for column, (text, limit) in texts.items():
        if len(text) > limit:
            return RowFailure(RowError.TOO_LONG, column)
        # Merged into a letter, these would make MeMo that Digital Post refuses.
        if CONTROL_CHARACTERS.search(text):
            return RowFailure(RowError.CONTROL_CHARACTERS, column)
    return None


def validate_row(values: dict, variables: dict) -> ValidRow | RowFailure:
    cpr_text = values.get("cpr", "").strip()
    if not cpr_text:
        return RowFailure(RowError.CPR_MISSING, "cpr")
    if cpr_text.isdigit() and len(cpr_text) == 9:
        cpr_text = "0" + cpr_text  # a spreadsheet that took the CPR for a number dropped its leading zero
    try:
        cpr = normalize_cpr(cpr_text)
    except InvalidCPR as exc:
        return RowFailure(RowError.CPR_DATE if exc.reason == "date" else RowError.CPR_FORMAT, "cpr")
    language = LANGUAGE_WORDS.get(values.get("language", "").strip().casefold() or "da")
    if language not in LANGUAGES:
        return RowFailure(RowError.LANGUAGE, "language")
    first, last = values.get("first_name", "").strip(), values.get("last_name", "").strip()
    every = (first, last, *variables.values())
    # One test of the row's texts together, and one by one only when it fails:
    # nearly every row passes, and an import makes a million of them.
    if max(map(len, every)) > min(NAME_MAX, VARIABLE_MAX) or CONTROL_CHARACTERS.search("".join(every)):
        if failure := _text_failure(first, last, variables):
            return failure
    for column, text in variables.items():
        # Background variables are kept in clear and shown: no CPR may hide there.
        if holds_cpr(text):
            return RowFailure(RowError.CPR_IN_VARIABLE, column)
    return ValidRow(first, last, cpr, language, variables or None)


def validated(rows: Iterable[list[str]], report: Report, variable_names: list[str]) -> Iterator[tuple[int, ValidRow]]:
    mapping, most_rows = None, rows_max()
    for row_no, cells in enumerate(rows, start=1):
        if row_no > most_rows:
            raise ImportRefused(FileError.TOO_MANY_ROWS)
        if max(map(len, cells), default=0) > CELL_MAX:
            raise ImportRefused(FileError.CELL_TOO_LONG)
        if not "".join(cells).strip():
            continue  # blank lines are not recipients
        if mapping is None:
            mapping = header_map(cells)
            if mapping is not None:
                variable_names.extend(name for kind, name in mapping if kind == "variable")
                continue
            mapping = positional_map(len(cells))
        report.rows += 1
        values, variables = {}, {}
        for (kind, name), cell in zip(mapping, cells):
            if kind == "variable":
                variables[name] = cell.strip()
            elif kind != "skip":
                values[kind] = cell
        outcome = validate_row(values, variables)
        if isinstance(outcome, RowFailure):
            who = f"{values.get('first_name', '')} {values.get('last_name', '')}"
            # A name that carries a control character or a CPR number is not kept: the report is in clear.
            shown = "" if CONTROL_CHARACTERS.search(who) or holds_cpr(who) else who
            report.fail(row_no, outcome, values.get("cpr", ""), shown)
        else:
            yield row_no, outcome


# --- storing ----------------------------------------------------------------
