"""Bulk writes that stay fast at 100,000 rows on SQLite and PostgreSQL."""

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import itemgetter

from flask import current_app
from sqlalchemy import JSON, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from extensions import db

BATCH = 2000
# PostgreSQL: rows a COPY takes before the INSERTs from staging run.
CHUNK = 5000
# PostgreSQL: a bulk write of this many rows or more analyzes its tables.
ANALYZE_AFTER = 10_000


def dialect_insert(model):
    """INSERT with ON CONFLICT support, for the database in use."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    return insert(model)


def insert_skipping_conflicts(
    rows: Iterable[dict], targets: list[tuple[Table, list[str]]], conflict: list[str]
) -> None:
    """Write a stream of rows into one or more tables, each taking its own
    columns of every row; a row that clashes with one already there on
    `conflict` is skipped. Rows are consumed as they come (memory stays flat).

    PostgreSQL: the rows go by COPY into a temporary table, then into each
    target by one INSERT … SELECT. executemany there runs a statement per row,
    and the round trips were half of a 100,000-row import. SQLite: executemany
    in batches, which is an in-process loop there.
    """
    if db.engine.dialect.name == "postgresql":
        _via_copy(rows, targets, conflict)
        return
    # No thread here: SQLite's writes hold the GIL for much of their time, and
    # making rows beside them was slower than making them in turn.
    rows = iter(rows)
    while batch := list(islice(rows, BATCH)):
        for table, columns in targets:
            db.session.execute(
                dialect_insert(table).on_conflict_do_nothing(index_elements=conflict),
                [{c: row[c] for c in columns} for row in batch],
            )


def _via_copy(rows, targets, conflict):
    dialect = db.engine.dialect
    quote, table_name = dialect.identifier_preparer.quote, dialect.identifier_preparer.format_table
    types = {}
    for table, columns in targets:
        for name in columns:
            types.setdefault(name, table.c[name].type)
    names = list(types)
    staging = "bulk_staging"
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ("
            + ", ".join(f"{quote(name)} {types[name].compile(dialect=dialect)}" for name in names)
            + ") ON COMMIT DROP"
        )
        inserts = [
            f"INSERT INTO {table_name(table)} ({', '.join(map(quote, columns))}) "
            f"SELECT {', '.join(map(quote, columns))} FROM {staging} "
            f"ON CONFLICT ({', '.join(map(quote, conflict))}) DO NOTHING"
            for table, columns in targets
        ]
        # Chunk by chunk, in the file's order (a seq scan of a temporary
        # table reads it as written): a CPR seen twice keeps its first row
        # in every table.
        for chunk in prefetched(rows, CHUNK, _copy_shape(names, types)):
            with cursor.copy(f"COPY {staging} ({', '.join(map(quote, names))}) FROM STDIN") as copy:
                for values in chunk:
                    copy.write_row(values)
            chunk = values = None  # written: not held while the next chunk is made
            for insert in inserts:
                cursor.execute(insert)
            cursor.execute(f"TRUNCATE {staging}")
        cursor.execute(f"DROP TABLE {staging}")


def analyzed_after(rows: int, *tables: Table) -> None:
    """PostgreSQL, after a bulk write of `rows`: the tables' planner
    statistics, at once. Autovacuum gathers them a minute or more later,
    and until then the planner takes a table that just grew by a million
    rows for the few it had, and scans where it should walk an index.
    ANALYZE reads a sample, so it costs about the same at any size; inside
    the caller's transaction it sees the new rows."""
    if rows < ANALYZE_AFTER or db.engine.dialect.name != "postgresql":
        return
    preparer = db.engine.dialect.identifier_preparer
    for table in tables:
        db.session.execute(text(f"ANALYZE {preparer.format_table(table)}"))


def prefetched(rows: Iterable, size: int, shape: Callable = lambda row: row) -> Iterator[list]:
    """The rows, shaped, in lists of `size`, made by a thread of their own
    while the caller writes the list before: the database's work (which
    lets go of the GIL) and the rows' own (parsing, validating, encrypting)
    overlap. At most three lists are alive: the caller's, one made and
    waiting, one being made; the caller drops its list before it asks for
    the next. What making them raises is raised here, in the caller's
    thread, and the thread ends when the caller stops."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    app = current_app._get_current_object()

    def hand_over(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def make() -> None:
        with app.app_context():
            try:
                source = iter(rows)
                while not stop.is_set() and (chunk := [shape(row) for row in islice(source, size)]):
                    hand_over(chunk)
                hand_over(None)
            except BaseException as exc:  # raised again in the caller's thread
                hand_over(exc)

    maker = threading.Thread(target=make, name="bulk-rows", daemon=True)
    maker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
            item = None  # not held while the next is waited for
    finally:
        stop.set()
        maker.join()


def _copy_shape(names: list[str], types: dict) -> Callable[[dict], list]:
    """A row's values for COPY, in the order of `names`: each JSON column's
    value as its text (NULL for None), the others as they are. Chosen by
    column once, not by testing every value of every row."""
    pick = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    json_at = [i for i, name in enumerate(names) if isinstance(types[name], JSON)]

    def shape(row: dict) -> list:
        values = list(pick(row))
        for i in json_at:
            if values[i] is not None:
                values[i] = json.dumps(values[i])
        return values

    return shape
