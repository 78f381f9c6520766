import secrets
from datetime import datetime, timezone

from sqlalchemy import DateTime, String, TypeDecorator

# Rows on one page of every table: members, recipients, the audit log.
PER_PAGE = 50


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def code_point_text(length: int) -> String:
    """A string column compared by code point, as SQLite compares: on
    PostgreSQL in the "C" collation. For text a person reads (the member
    table's name and e-mail), a btree then serves LIKE 'q%' as a range in
    the column's order (migration e4f6a8b0c2d5); for opaque keys (HMACs,
    tokens), each comparison in their unique indexes is a memcmp rather
    than the locale's (migration f5a7b9c1d3e6)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def new_token() -> str:
    """An unguessable link token: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use UTC-aware datetimes")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value
