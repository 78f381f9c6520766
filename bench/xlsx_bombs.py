"""What reading a hostile .xlsx costs, beside a real one, in one run.

    .venv/bin/python bench/xlsx_bombs.py [RUNS]

The baseline is a full share's worth of a real workbook: 100,000 rows of
six columns (names, CPR, language, two background variables), written by
openpyxl. Each bomb fits through the 16 MB upload and would unpack to far
more; the "at the bound" cases are the costliest files that pass each
bound. For each: the upload's size, the reader's outcome, the median wall
time, and the reader process's peak memory and CPU (from os.wait4), with
the CPU as a ratio to the baseline's. At the end, how much the process
that called the reader (the web process) grew over the whole run.

Exit 1 when a case's reader exceeds its memory limit, takes over 1.5x the
baseline's CPU, or the calling process grows by more than 64 MB.
"""

import io
import logging
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask

from config import Config
from models.sharing.rows import (
    XLSX_ELEMENTS_MAX,
    XLSX_MEMORY_MAX,
    XLSX_UNPACKED_MAX,
    ImportRefused,
    xlsx_limits,
    xlsx_rows,
)
from tests.fixtures.xlsx import MB, SHEET, empty_cells, one_cell, rows, shared_strings, xlsx

CPU_RATIO_MAX = 1.5
CALLER_GROWTH_MAX_MB = 64


def real_workbook(count: int) -> bytes:
    from openpyxl import Workbook

    rng = random.Random(7)
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["Fornavn", "Efternavn", "CPR", "Sprog", "Afdeling", "Kommune"])
    first = ["Anna", "Bo", "Mette", "Jens", "Søren", "Ida", "Mads", "Karen", "Ahmad", "Zofia"]
    for n in range(count):
        cpr = f"{n % 28 + 1:02d}{n % 12 + 1:02d}{n % 90 + 10:02d}{n % 10_000:04d}"
        sheet.append([rng.choice(first), f"Jensen{n % 5000}", cpr, "da", f"Afd. {n % 40}", f"Kommune {n % 98}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CASES = {
    "baseline: 100,000 real rows": lambda: real_workbook(100_000),
    "one cell past the unpacked bound": lambda: xlsx(one_cell(XLSX_UNPACKED_MAX + MB)),
    "two million one-cell rows": lambda: xlsx(rows(2_000_000)),
    "a declared height of 1,048,576 rows": lambda: xlsx(
        [
            SHEET % b'<dimension ref="A1:XFD1048576"/>',
            b'<row r="1048576"><c r="A1"><v>1</v></c></row></sheetData></worksheet>',
        ]
    ),
    "a row of 30 million empty cells": lambda: xlsx(empty_cells(30_000_000)),
    "10 million shared strings": lambda: xlsx(rows(1), shared=shared_strings(10_000_000)),
    "at the bound: rows of one cell, no dimension": lambda: xlsx(rows(XLSX_ELEMENTS_MAX // 3 - 10_000)),
    "at the bound: shared strings": lambda: xlsx(rows(1), shared=shared_strings(XLSX_ELEMENTS_MAX // 4 - 20_000)),
    "at the bound: a cell of 2 MB": lambda: xlsx(one_cell(2 * MB)),
}


class Usage(logging.Handler):
    def __init__(self):
        super().__init__()
        self.last = ""

    def emit(self, record):
        self.last = record.getMessage()


def read_once(content: bytes, usage: Usage) -> tuple[float, str, float, float]:
    started = time.perf_counter()
    outcome, count = "read", 0
    try:
        for _ in xlsx_rows(io.BytesIO(content)):
            count += 1
    except ImportRefused as exc:
        outcome = f"refused: {exc.error.value}"
    wall = time.perf_counter() - started
    peak, cpu = (float(x) for x in re.findall(r"([\d.]+) (?:MB|s)", usage.last))
    return wall, outcome if outcome != "read" else f"read {count:,} rows", peak, cpu


def main() -> int:
    # The reader's bounds come partly from the app's settings (the defaults here).
    app = Flask(__name__)
    app.config.from_object(Config())
    with app.app_context():
        return run()


def run() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    usage = Usage()
    logger = logging.getLogger("models.sharing.rows")
    logger.addHandler(usage)
    logger.setLevel(logging.INFO)
    print(
        f"bounds: {XLSX_UNPACKED_MAX // MB} MB unpacked, {XLSX_ELEMENTS_MAX:,} elements, {xlsx_limits()['rows']:,} rows, "
    )
    print(f"        reader memory {XLSX_MEMORY_MAX // MB} MB; median of {runs} runs\n")
    print(f"{'case':46} {'upload':>9} {'outcome':32} {'wall':>8} {'peak':>8} {'CPU':>8} {'CPU/base':>9}")
    baseline_cpu, failed = None, []
    caller_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, build in CASES.items():
        content = build()
        results = [read_once(content, usage) for _ in range(runs)]
        wall = statistics.median(r[0] for r in results)
        peak = max(r[2] for r in results)
        cpu = statistics.median(r[3] for r in results)
        baseline_cpu = baseline_cpu or cpu
        ratio = cpu / baseline_cpu
        print(
            f"{name:46} {len(content) / MB:7.2f}MB {results[0][1]:32} {wall:7.2f}s {peak:6.0f}MB {cpu:7.2f}s {ratio:8.2f}x"
        )
        if peak > XLSX_MEMORY_MAX / MB or ratio > CPU_RATIO_MAX:
            failed.append(name)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - caller_before
    print(f"\nthe calling process grew by {growth:.0f} MB at its peak over the run (goal <= {CALLER_GROWTH_MAX_MB} MB)")
    if growth > CALLER_GROWTH_MAX_MB:
        failed.append("caller growth")
    worst = "none" if not failed else ", ".join(failed)
    print(f"over a goal: {worst}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
