"""Anonymous surveys: recipients who answered keep no time and no state of
their own, and answers only their day (see docs/anonymity.md)

Revision ID: a1b3c5d7e9f2
Revises: d2a4c6e8f0b1
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "a1b3c5d7e9f2"
down_revision = "d2a4c6e8f0b1"
branch_labels = None
depends_on = None

ANSWERED_UNTIMED = datetime(2000, 1, 1, tzinfo=timezone.utc)  # as models.sharing has it

survey = sa.table("survey", sa.column("id"), sa.column("anonymous", sa.Boolean))
share = sa.table("share", sa.column("id"), sa.column("survey_id"))
recipient = sa.table(
    "recipient", sa.column("share_id"), sa.column("state"), sa.column("responded_at", UTCDateTime), sa.column("id")
)
response = sa.table("response", sa.column("id"), sa.column("survey_id"), sa.column("created_at", UTCDateTime))


def upgrade():
    conn = op.get_bind()
    anonymous = sa.select(survey.c.id).where(survey.c.anonymous.is_(True))
    # Whoever answered was delivered the letter; that is the state they keep.
    conn.execute(
        recipient.update()
        .where(
            recipient.c.responded_at.is_not(None),
            recipient.c.share_id.in_(sa.select(share.c.id).where(share.c.survey_id.in_(anonymous))),
        )
        .values(responded_at=ANSWERED_UNTIMED, state="delivered")
    )
    rows = conn.execute(
        sa.select(response.c.id, response.c.created_at).where(response.c.survey_id.in_(anonymous))
    ).all()
    if rows:
        conn.execute(
            response.update().where(response.c.id == sa.bindparam("r_id")).values(created_at=sa.bindparam("day")),
            [{"r_id": i, "day": at.replace(hour=0, minute=0, second=0, microsecond=0)} for i, at in rows],
        )


def downgrade():
    pass  # the times are gone, as intended
