"""share_tally: a share's recipients counted by state, kept by triggers on recipient; recipient.in_mailbox, kept by a trigger on delivery

The status page polls its counts while a round runs. Counting them took
several queries over every recipient, one of them an EXISTS per recipient
over the deliveries; at a share of a million recipients that is far too
slow for a poll. The database now keeps the counts in step itself,
whatever writes the rows (the import, a round's outcomes, a receipt, a
cascade).

Revision ID: f8a0b2c4d6e8
Revises: e7f9a1b3c5d7
"""

import sqlalchemy as sa
from alembic import op

revision = "f8a0b2c4d6e8"
down_revision = "e7f9a1b3c5d7"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE TRIGGER share_tally_insert AFTER INSERT ON recipient BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT new.share_id, k, sum(d) FROM (SELECT new.state AS k, 1 AS d
                UNION ALL SELECT 'responded_at', 1 WHERE new.responded_at IS NOT NULL
                UNION ALL SELECT 'in_mailbox', 1 WHERE new.in_mailbox OR new.state = 'delivered')
              GROUP BY k HAVING sum(d) != 0
        ON CONFLICT (share_id, name) DO UPDATE SET n = n + excluded.n;
    END""",
    """CREATE TRIGGER share_tally_delete AFTER DELETE ON recipient BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT old.share_id, k, sum(d) FROM (SELECT old.state AS k, -1 AS d
                UNION ALL SELECT 'responded_at', -1 WHERE old.responded_at IS NOT NULL
                UNION ALL SELECT 'in_mailbox', -1 WHERE old.in_mailbox OR old.state = 'delivered')
              WHERE EXISTS (SELECT 1 FROM share WHERE share.id = old.share_id)
              GROUP BY k HAVING sum(d) != 0
        ON CONFLICT (share_id, name) DO UPDATE SET n = n + excluded.n;
    END""",
    """CREATE TRIGGER share_tally_share_gone AFTER DELETE ON share BEGIN
        DELETE FROM share_tally WHERE share_id = old.id;
    END""",
    """CREATE TRIGGER share_tally_update AFTER UPDATE OF state, responded_at, in_mailbox ON recipient BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT new.share_id, k, sum(d) FROM (SELECT old.state AS k, -1 AS d
                UNION ALL SELECT 'responded_at', -1 WHERE old.responded_at IS NOT NULL
                UNION ALL SELECT 'in_mailbox', -1 WHERE old.in_mailbox OR old.state = 'delivered'
                UNION ALL SELECT new.state AS k, 1 AS d
                UNION ALL SELECT 'responded_at', 1 WHERE new.responded_at IS NOT NULL
                UNION ALL SELECT 'in_mailbox', 1 WHERE new.in_mailbox OR new.state = 'delivered')
              GROUP BY k HAVING sum(d) != 0
        ON CONFLICT (share_id, name) DO UPDATE SET n = n + excluded.n;
    END""",
    """CREATE TRIGGER recipient_in_mailbox AFTER UPDATE OF delivered_at ON delivery
    WHEN new.delivered_at IS NOT NULL BEGIN
        UPDATE recipient SET in_mailbox = 1 WHERE id = new.recipient_id AND NOT in_mailbox;
    END""",
]
# PostgreSQL counts once per statement, from the statement's rows.
POSTGRESQL_UP = [
    """CREATE FUNCTION share_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT share_id, k, sum(d) FROM (SELECT share_id, state AS k, 1 AS d FROM new_rows
                UNION ALL SELECT share_id, 'responded_at', 1 FROM new_rows WHERE responded_at IS NOT NULL
                UNION ALL SELECT share_id, 'in_mailbox', 1 FROM new_rows WHERE in_mailbox OR state = 'delivered') t
              GROUP BY share_id, k HAVING sum(d) <> 0 ORDER BY share_id, k
        ON CONFLICT (share_id, name) DO UPDATE SET n = share_tally.n + excluded.n;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION share_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT share_id, k, sum(d) FROM (SELECT share_id, state AS k, -1 AS d FROM old_rows
                UNION ALL SELECT share_id, 'responded_at', -1 FROM old_rows WHERE responded_at IS NOT NULL
                UNION ALL SELECT share_id, 'in_mailbox', -1 FROM old_rows WHERE in_mailbox OR state = 'delivered') t
              WHERE EXISTS (SELECT 1 FROM share s WHERE s.id = t.share_id)
              GROUP BY share_id, k HAVING sum(d) <> 0 ORDER BY share_id, k
        ON CONFLICT (share_id, name) DO UPDATE SET n = share_tally.n + excluded.n;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION share_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO share_tally (share_id, name, n)
             SELECT share_id, k, sum(d) FROM (SELECT share_id, state AS k, -1 AS d FROM old_rows
                UNION ALL SELECT share_id, 'responded_at', -1 FROM old_rows WHERE responded_at IS NOT NULL
                UNION ALL SELECT share_id, 'in_mailbox', -1 FROM old_rows WHERE in_mailbox OR state = 'delivered'
                UNION ALL SELECT share_id, state AS k, 1 AS d FROM new_rows
                UNION ALL SELECT share_id, 'responded_at', 1 FROM new_rows WHERE responded_at IS NOT NULL
                UNION ALL SELECT share_id, 'in_mailbox', 1 FROM new_rows WHERE in_mailbox OR state = 'delivered') t
              GROUP BY share_id, k HAVING sum(d) <> 0 ORDER BY share_id, k
        ON CONFLICT (share_id, name) DO UPDATE SET n = share_tally.n + excluded.n;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION recipient_in_mailbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE recipient r SET in_mailbox = true
          FROM (SELECT DISTINCT recipient_id FROM new_rows WHERE delivered_at IS NOT NULL ORDER BY recipient_id) n
         WHERE r.id = n.recipient_id AND NOT r.in_mailbox;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER share_tally_insert AFTER INSERT ON recipient
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION share_tally_insert()""",
    """CREATE TRIGGER share_tally_delete AFTER DELETE ON recipient
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION share_tally_delete()""",
    """CREATE TRIGGER share_tally_update AFTER UPDATE ON recipient
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION share_tally_update()""",
    """CREATE TRIGGER recipient_in_mailbox AFTER UPDATE ON delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION recipient_in_mailbox()""",
]
NAMES = ("share_tally_insert", "share_tally_delete", "share_tally_update")


def upgrade():
    op.create_table(
        "share_tally",
        sa.Column("share_id", sa.Integer(), sa.ForeignKey("share.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("share_id", "name"),
    )
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("in_mailbox", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        "UPDATE recipient SET in_mailbox = true WHERE EXISTS (SELECT 1 FROM delivery "
        "WHERE delivery.recipient_id = recipient.id AND delivery.delivered_at IS NOT NULL)"
    )
    op.execute(
        "INSERT INTO share_tally (share_id, name, n) SELECT share_id, state, count(*) FROM recipient "
        "GROUP BY share_id, state"
    )
    op.execute(
        "INSERT INTO share_tally (share_id, name, n) SELECT share_id, 'responded_at', count(*) FROM recipient "
        "WHERE responded_at IS NOT NULL GROUP BY share_id"
    )
    op.execute(
        "INSERT INTO share_tally (share_id, name, n) SELECT share_id, 'in_mailbox', count(*) FROM recipient "
        "WHERE in_mailbox OR state = 'delivered' GROUP BY share_id"
    )
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_UP:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in (*NAMES, "recipient_in_mailbox", "share_tally_share_gone"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name in NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON recipient")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        op.execute("DROP TRIGGER IF EXISTS recipient_in_mailbox ON delivery")
        op.execute("DROP FUNCTION IF EXISTS recipient_in_mailbox()")
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("in_mailbox")
    op.drop_table("share_tally")
