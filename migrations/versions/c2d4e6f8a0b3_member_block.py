"""member_block: an organization's members as bit blocks, kept by triggers on membership

A grant to every member (select all, no filter) aggregated every membership
row of the organization into bit blocks: at 100,000 members, most of the
request. The organization's own blocks are kept in step by the database,
and such a grant reads them: about 1,600 rows.

Revision ID: c2d4e6f8a0b3
Revises: b1c3d5e7f9a2
"""

import sqlalchemy as sa
from alembic import op

revision = "c2d4e6f8a0b3"
down_revision = "b1c3d5e7f9a2"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE TRIGGER member_block_insert AFTER INSERT ON membership BEGIN
        INSERT INTO member_block (org_id, block, bits, members) VALUES (new.org_id, new.id / 62, 1 << (new.id % 62), 1)
          ON CONFLICT (org_id, block) DO UPDATE SET bits = bits | excluded.bits, members = members + 1;
    END""",
    """CREATE TRIGGER member_block_delete AFTER DELETE ON membership BEGIN
        UPDATE member_block SET bits = bits & ~(1 << (old.id % 62)), members = members - 1
         WHERE org_id = old.org_id AND block = old.id / 62;
        DELETE FROM member_block WHERE org_id = old.org_id AND block = old.id / 62 AND members <= 0;
    END""",
    """CREATE TRIGGER member_block_update AFTER UPDATE OF org_id, id ON membership
    WHEN old.org_id IS NOT new.org_id OR old.id IS NOT new.id BEGIN
        UPDATE member_block SET bits = bits & ~(1 << (old.id % 62)), members = members - 1
         WHERE org_id = old.org_id AND block = old.id / 62;
        DELETE FROM member_block WHERE org_id = old.org_id AND block = old.id / 62 AND members <= 0;
        INSERT INTO member_block (org_id, block, bits, members) VALUES (new.org_id, new.id / 62, 1 << (new.id % 62), 1)
          ON CONFLICT (org_id, block) DO UPDATE SET bits = bits | excluded.bits, members = members + 1;
    END""",
]

POSTGRESQL_UP = [
    """CREATE FUNCTION member_block_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO member_block (org_id, block, bits, members)
             SELECT org_id, block, bits, c FROM (SELECT org_id, id / 62 AS block, CAST(sum(CAST(1 AS BIGINT) << (id % 62)) AS BIGINT) AS bits,
                       count(*) AS c FROM new_rows GROUP BY org_id, id / 62 ORDER BY org_id, id / 62) n
        ON CONFLICT (org_id, block) DO UPDATE
               SET bits = member_block.bits | excluded.bits, members = member_block.members + excluded.members;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER member_block_insert AFTER INSERT ON membership
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_block_insert()""",
    """CREATE FUNCTION member_block_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE member_block m SET bits = m.bits & ~o.bits, members = m.members - o.c
          FROM (SELECT org_id, id / 62 AS block, CAST(sum(CAST(1 AS BIGINT) << (id % 62)) AS BIGINT) AS bits,
                       count(*) AS c FROM old_rows GROUP BY org_id, id / 62 ORDER BY org_id, id / 62) o
         WHERE m.org_id = o.org_id AND m.block = o.block;
        DELETE FROM member_block m USING (SELECT DISTINCT org_id, id / 62 AS block FROM old_rows) o
         WHERE m.org_id = o.org_id AND m.block = o.block AND m.members <= 0;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER member_block_delete AFTER DELETE ON membership
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_block_delete()""",
    """CREATE FUNCTION member_block_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE member_block SET bits = bits & ~(CAST(1 AS BIGINT) << (OLD.id % 62)), members = members - 1
         WHERE org_id = OLD.org_id AND block = OLD.id / 62;
        DELETE FROM member_block WHERE org_id = OLD.org_id AND block = OLD.id / 62 AND members <= 0;
        INSERT INTO member_block (org_id, block, bits, members)
             VALUES (NEW.org_id, NEW.id / 62, CAST(1 AS BIGINT) << (NEW.id % 62), 1)
        ON CONFLICT (org_id, block) DO UPDATE SET bits = member_block.bits | excluded.bits, members = member_block.members + 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER member_block_update AFTER UPDATE OF org_id, id ON membership
    FOR EACH ROW WHEN (((old.org_id IS DISTINCT FROM new.org_id) OR (old.id <> new.id)))
    EXECUTE FUNCTION member_block_update()""",
]


def upgrade():
    op.create_table(
        "member_block",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id", ondelete="CASCADE"), nullable=False),
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bits", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "block"),
    )
    op.execute(
        "INSERT INTO member_block (org_id, block, bits, members) "
        "SELECT org_id, id / 62, CAST(sum(CAST(1 AS BIGINT) << (id % 62)) AS BIGINT), count(*) "
        "FROM membership GROUP BY org_id, id / 62"
    )
    for sql in POSTGRESQL_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(sql)


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("member_block_insert", "member_block_delete", "member_block_update"):
        op.execute(f"DROP TRIGGER {name} ON membership" if postgresql else f"DROP TRIGGER {name}")
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("member_block")
