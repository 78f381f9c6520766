"""Steering the query planners, in one place.

Each helper changes how SQLite or PostgreSQL finds rows, never which rows
they are: the same condition, written so that a planner that would choose
badly for Postbud's data (SQLite keeps no statistics; PostgreSQL misjudges
skewed organizations) takes the path that stays fast. What each one buys,
and the command that measures it again, is in docs/performance.md.
"""

import re

from sqlalchemy import CTE
from sqlalchemy.sql import ColumnElement

_DIGIT_RUN = re.compile(r"\d{3,}")


def unsteered(column: ColumnElement) -> ColumnElement:
    """The same number, but no index range: a bound that is almost never
    tight (an id ceiling) is tested on each row the other conditions find,
    instead of being taken as the way into the table."""
    return column + 0


def off_index(column: ColumnElement) -> ColumnElement:
    """The same text, but not looked up in the column's own index: the rows
    come from another index (the walk down the sort order), and the column is
    read only for those that pass the cheaper tests first."""
    return column.op("||")("")


def materialized(cte: CTE) -> CTE:
    """A CTE computed first and on its own, never folded into the query
    around it: its few rows then drive the join, whatever the planner thinks
    of the tables' sizes (PostgreSQL 12+ and SQLite 3.35+ read the keyword)."""
    return cte.prefix_with("MATERIALIZED")


def indexed_part(text: str) -> str:
    """The part of a substring search (`text`, folded) that a trigram index
    is asked for: its longest run of three digits or more, when it holds
    one and more besides; else all of it. Every match holds the part, and
    a trigram index reads a whole list for each trigram it is given: for
    "medlem000529" those of "med", "edl" … hold every member's e-mail, the
    digits' a few rows. The caller tests the whole search on those rows,
    `off_index`."""
    runs = _DIGIT_RUN.findall(text)
    if not runs:
        return text
    return max(runs, key=len)
