"""A share's letters per language, a reminder text of its own, and each round's text

Revision ID: d2e4f6a8b0c1
Revises: c9e1a3b5d7f9

Rounds confirmed before this get the texts they would have been sent with:
the invitation's text for both languages, a reminder with the prefix of
the recipient's language.
"""

import sqlalchemy as sa
from alembic import op

revision = "d2e4f6a8b0c1"
down_revision = "c9e1a3b5d7f9"
branch_labels = None
depends_on = None

PREFIX = {"da": "Påmindelse: ", "en": "Reminder: "}


def upgrade():
    with op.batch_alter_table("share") as batch:
        batch.add_column(sa.Column("texts", sa.JSON(), nullable=True))
    with op.batch_alter_table("scheduled_send") as batch:
        batch.add_column(sa.Column("texts", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT scheduled_send.id, scheduled_send.kind, share.subject, share.body "
            "FROM scheduled_send JOIN share ON share.id = scheduled_send.share_id"
        )
    ).all()
    update = sa.text("UPDATE scheduled_send SET texts = :texts WHERE id = :id").bindparams(
        sa.bindparam("texts", type_=sa.JSON)
    )
    for round_id, kind, subject, body in rows:
        prefix = PREFIX if kind == "reminder" else {"da": "", "en": ""}
        texts = {lang: {"subject": prefix[lang] + (subject or ""), "body": body or ""} for lang in ("da", "en")}
        conn.execute(update, {"texts": texts, "id": round_id})


def downgrade():
    with op.batch_alter_table("scheduled_send") as batch:
        batch.drop_column("texts")
    with op.batch_alter_table("share") as batch:
        batch.drop_column("texts")
