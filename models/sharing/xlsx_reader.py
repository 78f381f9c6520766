"""Reads an uploaded .xlsx in a process of its own, under memory and CPU
limits, and writes its first sheet's rows to stdout as JSON lines.

An .xlsx is a zip of XML: 16 MB uploaded can unpack to gigabytes, one cell
can hold hundreds of megabytes, and a sheet's declared size can ask for a
million empty rows. The web process must not pay for that, so the parsing
runs here, as `python -I models/sharing/xlsx_reader.py LIMITS`, and whatever the file
does, this process dies at its limits instead of the web process. It imports
nothing of the app (it is run by path, not as a module) and exits with one of
the codes below; the parent (`models.sharing.rows.xlsx_rows`) turns them into a
message at the file field.

Stdin: the file. Argument: the limits, as JSON (see LIMIT_KEYS). Stdout:
the rows. Stderr, last: "peak <KB>", the peak resident memory.
"""

import io
import json
import resource
import sys
import zipfile
from enum import IntEnum

LIMIT_KEYS = (
    "upload_bytes",
    "unpacked_bytes",
    "parts",
    "elements",
    "rows",
    "columns",
    "cell_chars",
    "memory_bytes",
    "cpu_seconds",
)


class Exit(IntEnum):
    OK = 0
    UNCAUGHT = 1  # what Python exits with on an uncaught exception
    NOT_XLSX = 2
    UNPACKED_TOO_LARGE = 3
    OUT_OF_MEMORY = 4
    TOO_MANY_ROWS = 5
    CELL_TOO_LONG = 6
    TOO_MANY_COLUMNS = 7


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def count_elements(data: io.BytesIO, parts: list[zipfile.ZipInfo], columns: int) -> int | None:
    """The XML elements in all parts (opening tags; closing tags left out;
    a shared string's counted twice), or None when a sheet's row has more than `columns` cells. One streaming
    pass of counting in C, far cheaper than parsing: openpyxl parses a whole
    sheet that declares no dimension just to find one, keeps every shared
    string, and builds all of a row's cells before it yields the row."""
    elements = 0
    with zipfile.ZipFile(data) as archive:
        for info in parts:
            sheet = info.filename.startswith("xl/worksheets/")
            # openpyxl spends about twice as long on a shared string's elements.
            weight = 2 if info.filename.endswith("sharedStrings.xml") else 1
            cells, tail = 0, b""
            with archive.open(info) as part:
                while chunk := part.read(1 << 20):
                    text = tail + chunk  # a tag split between two reads is counted in the second
                    cut = max(len(text) - 4, 0)
                    counted, tail = text[:cut], text[cut:]
                    elements += weight * (counted.count(b"<") - counted.count(b"</"))
                    if sheet:
                        rows = counted.split(b"<row")
                        cells += rows[0].count(b"<c")
                        for row in rows[1:]:
                            if cells > columns:
                                return None
                            cells = row.count(b"<c")
                elements += weight * (tail.count(b"<") - tail.count(b"</"))
            if sheet and cells + tail.count(b"<c") > columns:
                return None
    return elements


def read(data: bytes, limits: dict, out) -> Exit:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return Exit.NOT_XLSX
    # The sizes are the zip directory's word, and zipfile holds each part to
    # its declared size while inflating (a part that inflates further fails
    # its CRC), so this bounds what can be unpacked before anything is.
    if len(parts) > limits["parts"] or sum(p.file_size for p in parts) > limits["unpacked_bytes"]:
        return Exit.UNPACKED_TOO_LARGE
    elements = count_elements(io.BytesIO(data), parts, limits["columns"])
    if elements is None:
        return Exit.TOO_MANY_COLUMNS
    if elements > limits["elements"]:
        return Exit.UNPACKED_TOO_LARGE

    from openpyxl import load_workbook  # after the limits: its import counts too

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        # Explicit bounds: otherwise a row is padded to the sheet's declared
        # width (16,384 columns) and the sheet to its declared height.
        rows = workbook.active.iter_rows(max_row=limits["rows"] + 1, max_col=limits["columns"], values_only=True)
        for count, row in enumerate(rows, start=1):
            if count > limits["rows"]:
                return Exit.TOO_MANY_ROWS
            cells = [cell_text(v) for v in row]
            while cells and not cells[-1]:
                cells.pop()
            if any(len(c) > limits["cell_chars"] for c in cells):
                return Exit.CELL_TOO_LONG
            out.write(json.dumps(cells, ensure_ascii=False))
            out.write("\n")
    finally:
        workbook.close()
    return Exit.OK


def main() -> int:
    limits = json.loads(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"],) * 2)
    data = sys.stdin.buffer.read(limits["upload_bytes"] + 1)
    if len(data) > limits["upload_bytes"]:
        return Exit.UNPACKED_TOO_LARGE
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=False)
    try:
        code = read(data, limits, out)
        out.flush()
        return code
    except MemoryError:
        return Exit.OUT_OF_MEMORY
    except Exception:  # whatever a damaged or hostile file raises inside openpyxl
        return Exit.NOT_XLSX
    finally:
        sys.stderr.write(f"peak {peak_memory_kb()}\n")


def peak_memory_kb() -> int:
    """This program's peak resident memory. Not getrusage's ru_maxrss, which
    also counts the web process this one was forked from."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    sys.exit(main())
