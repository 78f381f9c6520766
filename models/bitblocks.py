"""Sets of membership ids as bit blocks: the one place that knows the layout.

A set is stored as rows of (block, bits, members): id `block * BLOCK_BITS + i`
is in the set when bit i of `bits` is set, and `members` counts the bits, so
the size of a set is a SUM over few rows. Bits 0-61 of a signed 64-bit
integer: a SUM of distinct powers of two (an OR of ids that are not yet in
the set) never overflows. 100,000 members take about 1,600 rows.

What this module promises:
- `block_of` and `bit_of` are the SQL expressions of an id's block and bit,
  spelled the same every time (SQLite uses an index on an expression only
  when a query spells that expression: see `ix_membership_org_block`);
- `contains` is an EXISTS that holds when an id is in a set of blocks;
- `aggregate` turns a SELECT of ids into its blocks in one GROUP BY;
- `ids_of` and `holds` read blocks back in Python, exactly.

The triggers that keep access_block true when a member leaves spell the
same layout in SQL (models/triggers.py); a change of BLOCK_BITS needs a
migration of every set.
"""

from sqlalchemy import BigInteger, Integer, cast, exists, func, literal_column
from sqlalchemy.sql import ColumnElement, Select

BLOCK_BITS = 62

# Written into the SQL, not bound, for the expression indexes' sake.
_BITS = literal_column(str(BLOCK_BITS), Integer)


def block_of(ids: ColumnElement) -> ColumnElement:
    """SQL: the block of each id."""
    return ids // _BITS


def bit_of(ids: ColumnElement) -> ColumnElement:
    """SQL: the bit of each id within its block, as a 64-bit integer."""
    return cast(literal_column("1"), BigInteger).bitwise_lshift(ids % _BITS)


def contains(blocks, ids: ColumnElement, *match) -> exists:
    """SQL EXISTS: the id is in the set, i.e. its bit is set in a row of
    `blocks` (a table with block and bits columns) that also meets `match`."""
    return exists().where(*match, blocks.block == block_of(ids), blocks.bits.bitwise_and(bit_of(ids)) != 0)


def aggregate(ids: Select, id_column: ColumnElement, *leading) -> Select:
    """The blocks of the ids that `ids` selects (from `id_column`), as rows
    of (*leading, block, bits, members), one per block. The ids must be
    distinct: a SUM of powers of two is their OR only then."""
    block = block_of(id_column)
    return (
        ids.with_only_columns(*leading, block, cast(func.sum(bit_of(id_column)), BigInteger), func.count())
        .group_by(block)
        .order_by(None)
    )


def block_and_bit(member_id: int) -> tuple[int, int]:
    """The block of one id, and its bit as an integer mask."""
    return member_id // BLOCK_BITS, 1 << (member_id % BLOCK_BITS)


def holds(bits: int | None, member_id: int) -> bool:
    """Whether `bits`, the bits of the id's block, hold the id."""
    return bits is not None and bool(bits >> (member_id % BLOCK_BITS) & 1)


def up_to(blocks: dict[int, int], ceiling: int) -> dict[int, int]:
    """The (block: bits) set cut to ids of at most `ceiling`."""
    top, bit = ceiling // BLOCK_BITS, ceiling % BLOCK_BITS
    out = {block: bits for block, bits in blocks.items() if block < top}
    if top in blocks:
        out[top] = blocks[top] & ((2 << bit) - 1)
    return out


def with_ids(blocks: dict[int, int], ids, present: bool) -> dict[int, int]:
    """The (block: bits) set with the ids added (present) or taken out."""
    out = dict(blocks)
    for member_id in ids:
        block, bit = block_and_bit(member_id)
        out[block] = out.get(block, 0) | bit if present else out.get(block, 0) & ~bit
    return out


def ids_of(blocks) -> set[int]:
    """Every id in (block, bits) rows."""
    return {block * BLOCK_BITS + i for block, bits in blocks for i in range(BLOCK_BITS) if bits >> i & 1}
