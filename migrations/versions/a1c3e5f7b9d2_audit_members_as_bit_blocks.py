"""audit members as bit blocks: one row per 62 membership ids, not one per member

A grant to 100,000 members wrote 100,000 audit rows; now about 1,600. Each
event keeps the first five names (by name) for the log in audit_event.member_names.

Revision ID: a1c3e5f7b9d2
Revises: 7b2d4e6f8a10
Create Date: 2026-11-27 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a1c3e5f7b9d2'
down_revision = '7b2d4e6f8a10'
branch_labels = None
depends_on = None

BLOCK_BITS = 62  # as models.access.BLOCK_BITS when this was written
NAMES = 5

audit_event = sa.table('audit_event', sa.column('id', sa.Integer), sa.column('member_names', sa.JSON))


def upgrade():
    op.create_table('audit_member_block',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('block', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('bits', sa.BigInteger(), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'block', name=op.f('pk_audit_member_block'))
    )
    with op.batch_alter_table('audit_member_block', schema=None) as batch_op:
        batch_op.create_index('ix_audit_member_block_block', ['block'], unique=False)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_names', sa.JSON(), nullable=True))

    bind = op.get_bind()
    bind.execute(sa.text(
        "INSERT INTO audit_member_block (event_id, block, bits, members) "
        f"SELECT event_id, membership_id / {BLOCK_BITS}, "
        f"CAST(SUM(CAST(1 AS BIGINT) << (membership_id % {BLOCK_BITS})) AS BIGINT), COUNT(*) "
        f"FROM audit_event_member GROUP BY event_id, membership_id / {BLOCK_BITS}"
    ))
    # The log's first names, as the log showed them: by name, from the users.
    ranked = bind.execute(sa.text(
        "SELECT event_id, name FROM (SELECT m.event_id, u.name, "
        "ROW_NUMBER() OVER (PARTITION BY m.event_id ORDER BY u.name) AS n "
        "FROM audit_event_member m JOIN \"user\" u ON u.id = m.user_id) ranked "
        f"WHERE n <= {NAMES} ORDER BY event_id, n"
    )).all()
    names = {}
    for event_id, name in ranked:
        names.setdefault(event_id, []).append(name)
    for event_id, event_names in names.items():
        bind.execute(audit_event.update().where(audit_event.c.id == event_id).values(member_names=event_names))

    with op.batch_alter_table('audit_event_member', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_member_membership')
    op.drop_table('audit_event_member')


def downgrade():
    op.create_table('audit_event_member',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('event_id', 'membership_id', name=op.f('pk_audit_event_member'))
    )
    with op.batch_alter_table('audit_event_member', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_member_membership', ['membership_id'], unique=False)
    bind = op.get_bind()
    rows = []
    for event_id, block, bits in bind.execute(sa.text("SELECT event_id, block, bits FROM audit_member_block")):
        rows += [{"e": event_id, "m": block * BLOCK_BITS + i} for i in range(BLOCK_BITS) if bits >> i & 1]
    if rows:
        bind.execute(sa.text("INSERT INTO audit_event_member (event_id, membership_id) VALUES (:e, :m)"), rows)
        bind.execute(sa.text(
            "UPDATE audit_event_member SET user_id = "
            "(SELECT user_id FROM membership WHERE membership.id = audit_event_member.membership_id)"
        ))
    with op.batch_alter_table('audit_member_block', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_member_block_block')
    op.drop_table('audit_member_block')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('member_names')
