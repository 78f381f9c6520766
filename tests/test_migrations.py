"""The Alembic migrations build the whole schema on an empty database."""

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from extensions import db


# SQLite cannot reflect the access block indexes (an expression) to compare
# them; the next test but one checks that they are there.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_upgrade_empty_database_to_head_matches_the_models(tmp_path, redis_url):
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from extensions import include_in_autogenerate

        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": include_in_autogenerate})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], diff
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_migrated_test_database_has_every_model_table(app):
    tables = set(sa.inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables


def test_migrated_test_database_has_the_access_block_indexes(app):
    """The expression indexes autogenerate cannot compare (extensions.UNCOMPARED_INDEXES)."""
    if db.engine.dialect.name == "sqlite":
        names = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'membership'"
    else:
        names = "SELECT indexname FROM pg_indexes WHERE tablename = 'membership'"
    indexes = set(db.session.scalars(sa.text(names)))
    assert {"ix_membership_org_block", "ix_membership_org_department_block"} <= indexes


def test_audit_members_move_to_bit_blocks_and_back(tmp_path, redis_url):
    """The audit's per-member rows become bit blocks with the first names
    kept for the log, and a downgrade gives the same rows back."""
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade(revision="7b2d4e6f8a10")
        ids = [1, 61, 62, 63, 200]
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO organization (id, name, created_at) VALUES (1, 'K', '2026-01-01')"))
            for i in ids:
                conn.execute(
                    sa.text(
                        'INSERT INTO "user" (id, email, name, language, created_at, session_version) '
                        "VALUES (:i, :e, :n, 'da', '2026-01-01', 0)"
                    ),
                    {"i": i, "e": f"u{i}@example.dk", "n": f"Navn {i:03d}"},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO membership (id, org_id, user_id, role, department, name_folded, email, joined_at) "
                        "VALUES (:i, 1, :i, 'member', '', '', '', '2026-01-01')"
                    ),
                    {"i": i},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO audit_event (id, org_id, action, target, details, created_at) "
                    "VALUES (7, 1, 'access.granted', '5', '{\"count\": 5}', '2026-01-02')"
                )
            )
            for i in ids:
                conn.execute(
                    sa.text("INSERT INTO audit_event_member (event_id, membership_id, user_id) VALUES (7, :i, :i)"),
                    {"i": i},
                )
        upgrade()
        from models import AuditEvent
        from models.access import event_member_ids

        assert event_member_ids(7) == set(ids)
        event = db.session.get(AuditEvent, 7)
        assert event.member_names == ["Navn 001", "Navn 061", "Navn 062", "Navn 063", "Navn 200"]
        assert event.details == {"count": 5}
        db.session.remove()
        downgrade(revision="7b2d4e6f8a10")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT membership_id, user_id FROM audit_event_member ORDER BY 1")).all()
        assert rows == [(i, i) for i in ids]
        db.engine.dispose()


def _words(sql: str) -> str:
    return " ".join(sql.replace("public.", "").replace(";", " ; ").split()).strip(" ;")


def test_the_migrated_database_has_exactly_the_triggers_models_triggers_lists(app):
    """models/triggers.py is the present of the migrations' history: the
    same triggers, on the same tables, with the same definitions."""
    from models.triggers import triggers_on

    dialect = db.engine.dialect.name
    expected = triggers_on(dialect)
    with db.engine.connect() as conn:
        if dialect == "sqlite":
            found = {
                name: (table, _words(sql))
                for name, table, sql in conn.exec_driver_sql(
                    "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
                )
            }
            assert found == {n: (t.table, _words(t.sqlite)) for n, t in expected.items()}
        else:
            found = {
                name: (table, _words(definition), _words(source))
                for name, table, definition, source in conn.exec_driver_sql(
                    "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid"
                    " WHERE NOT t.tgisinternal"
                )
            }
            assert found == {
                n: (t.table, _words(t.postgresql[1]), _words(t.postgresql[0].split("$$")[1]))
                for n, t in expected.items()
            }
    assert len(expected) == (20 if dialect == "sqlite" else 15)


# An organization, its user, a survey and a confirmed share, as rows of an old schema.
OLD_SHARE = (
    "INSERT INTO organization (id, name, created_at) VALUES (1, 'K', '2026-01-01')",
    'INSERT INTO "user" (id, email, name, language, created_at, session_version) '
    "VALUES (1, 'u@example.dk', 'U', 'da', '2026-01-01', 0)",
    "INSERT INTO survey (id, org_id, owner_id, title, introduction, state, anonymous, public_token, created_at) "
    "VALUES (1, 1, 1, 'T', '', 'open', 0, 'tok', '2026-01-01')",
    "INSERT INTO share (id, org_id, survey_id, state, subject, body, language, variables, created_at, exempt_choice) "
    "VALUES (1, 1, 1, 'confirmed', 'Emne', 'Tekst', 'da', '[]', '2026-01-01', 'leave_out')",
)


def test_rounds_confirmed_before_texts_per_language_keep_the_letter_they_had(tmp_path, redis_url):
    """Each round gets the text it would have gone with: the invitation's in
    both languages, a reminder's with the prefix of the recipient's language."""
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade(revision="c9e1a3b5d7f9")
        with db.engine.begin() as conn:
            for sql in (
                *OLD_SHARE,
                "INSERT INTO scheduled_send (id, org_id, share_id, kind, send_at, state, crashes) VALUES "
                "(1, 1, 1, 'invitation', '2026-01-02', 'done', 0), (2, 1, 1, 'reminder', '2026-01-05', 'scheduled', 0)",
            ):
                conn.execute(sa.text(sql))
        upgrade()
        from models import ScheduledSend

        invitation, reminder = db.session.scalars(sa.select(ScheduledSend).order_by(ScheduledSend.id)).all()
        assert invitation.texts == {
            "da": {"subject": "Emne", "body": "Tekst"},
            "en": {"subject": "Emne", "body": "Tekst"},
        }
        assert reminder.texts == {
            "da": {"subject": "Påmindelse: Emne", "body": "Tekst"},
            "en": {"subject": "Reminder: Emne", "body": "Tekst"},
        }
        db.session.remove()
        downgrade(revision="c9e1a3b5d7f9")
        db.engine.dispose()


def test_rounds_finished_lately_with_letters_unreceipted_get_a_look_from_the_database(tmp_path, redis_url):
    """The looks lived only in Redis: a round done in the last two days whose
    letters have no receipt yet gets a look at once; one done long ago, or
    with every receipt, gets none."""
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}", REDIS_URL=redis_url)
    lately, long_ago = "datetime('now', '-3 hours')", "datetime('now', '-5 days')"
    with app.app_context():
        upgrade(revision="d2e4f6a8b0c1")
        with db.engine.begin() as conn:
            for sql in (
                *OLD_SHARE,
                "INSERT INTO scheduled_send (id, org_id, share_id, kind, send_at, state, crashes, finished_at) VALUES "
                f"(1, 1, 1, 'invitation', '2026-01-02', 'done', 0, {lately}), "
                f"(2, 1, 1, 'reminder', '2026-01-02', 'done', 0, {lately}), "
                f"(3, 1, 1, 'reminder', '2026-01-02', 'done', 0, {long_ago})",
                "INSERT INTO recipient (id, share_id, cpr_hmac, cpr_masked, first_name, last_name, name_folded, language, "
                "token, state) VALUES (1, 1, 'h', '010190-****', '', '', '', 'da', 't1', 'sent')",
                "INSERT INTO delivery (id, round_id, recipient_id, state, attempts, uuid_version, delivered_at) VALUES "
                "(1, 1, 1, 'sent', 1, 5, NULL), (2, 2, 1, 'sent', 1, 5, datetime('now')), (3, 3, 1, 'sent', 1, 5, NULL)",
            ):
                conn.execute(sa.text(sql))
        upgrade()
        from models import ScheduledSend
        from models.base import utcnow

        rounds = db.session.scalars(sa.select(ScheduledSend).order_by(ScheduledSend.id)).all()
        assert rounds[0].check_at is not None and abs((utcnow() - rounds[0].check_at).total_seconds()) < 60
        assert [r.check_at for r in rounds[1:]] == [None, None]
        assert [r.checks for r in rounds] == [0, 0, 0]
        db.session.remove()
        downgrade(revision="d2e4f6a8b0c1")
        db.engine.dispose()


def test_background_variables_move_beside_the_cpr_and_back(tmp_path, redis_url):
    """The variables of each recipient go to its CPR row, so retention deletes
    both at once; a row without variables (a JSON null) gets none, and a
    downgrade puts them back on the recipients."""
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'old.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade(revision="a9b1c3d5e7f9")
        with db.engine.begin() as conn:
            for sql in (
                *OLD_SHARE,
                "INSERT INTO recipient (id, share_id, cpr_hmac, cpr_masked, first_name, last_name, name_folded, language, "
                "variables, token, state) VALUES "
                "(1, 1, 'h1', '010190-****', 'A', '', 'a', 'da', '{\"AFDELING\": \"Løn\"}', 't1', 'pending'), "
                "(2, 1, 'h2', '020290-****', 'B', '', 'b', 'da', 'null', 't2', 'pending')",
                "INSERT INTO recipient_cpr (share_id, cpr_hmac, cpr_encrypted) VALUES (1, 'h1', 'x'), (1, 'h2', 'y')",
            ):
                conn.execute(sa.text(sql))
        upgrade()
        from models import Recipient, RecipientCpr

        assert "variables" not in {c["name"] for c in sa.inspect(db.engine).get_columns("recipient")}
        rows = db.session.execute(
            sa.select(RecipientCpr.cpr_hmac, RecipientCpr.variables).order_by(RecipientCpr.cpr_hmac)
        ).all()
        assert rows == [("h1", {"AFDELING": "Løn"}), ("h2", None)]
        assert [r.variables for r in db.session.scalars(sa.select(Recipient).order_by(Recipient.id))] == [
            {"AFDELING": "Løn"},
            None,
        ]
        with db.engine.connect() as conn:  # the triggers on recipient survive the dropped column
            names = set(conn.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        assert {"share_tally_insert", "share_tally_delete", "share_tally_update"} <= names
        db.session.remove()
        downgrade(revision="a9b1c3d5e7f9")
        with db.engine.connect() as conn:
            back = conn.execute(sa.text("SELECT cpr_hmac, variables FROM recipient ORDER BY 1")).all()
        assert back == [("h1", '{"AFDELING": "Løn"}'), ("h2", None)]
        db.engine.dispose()


def test_every_database_connection_gets_the_settings_its_queries_are_planned_for(app):
    """SQLite writes ahead to a log. PostgreSQL plans each of the app's
    statements for its own values: psycopg never prepares them (from its
    sixth run a prepared search got one generic plan, which read every
    member for one letter), while PostgreSQL keeps its own cached plans (a
    foreign key's check, planned again for each row, doubled a bulk insert).
    A setting that a rolled-back transaction undid, or that only the first
    connection got, would not hold."""
    db.session.rollback()
    with db.engine.connect() as first, db.engine.connect() as second:
        first.rollback()
        for conn in (db.session.connection(), first, second):
            if db.engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                continue
            for n in range(8):
                conn.execute(sa.text("SELECT count(*) FROM membership WHERE name_folded LIKE :q"), {"q": f"%{n}%"})
            assert conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar() == 0
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"


def test_member_names_and_emails_compare_by_code_point_on_both_databases(app):
    """The member table sorts alike on SQLite (BINARY) and PostgreSQL ("C",
    migration e4f6a8b0c2d5), and a search's prefix is a range of an index."""
    from models.org import Membership

    if db.engine.dialect.name == "postgresql":
        collations = db.session.execute(
            sa.text(
                "SELECT column_name, collation_name FROM information_schema.columns "
                "WHERE table_name = 'membership' AND column_name IN ('name_folded', 'email')"
            )
        ).all()
        assert dict(collations) == {"name_folded": "C", "email": "C"}
    names = ["øle", "anne-a", "zoe", "åse", "anne b", "ærø"]
    values = sa.union_all(*(sa.select(sa.literal(n).label("n")) for n in names)).subquery()
    typed = sa.cast(values.c.n, Membership.__table__.c.name_folded.type)
    assert list(db.session.scalars(sa.select(values.c.n).order_by(typed))) == sorted(names)


def test_cpr_hmacs_and_tokens_compare_by_code_point_all_alike(app):
    """PostgreSQL: the opaque keys a million-row import writes into unique
    indexes are in "C" (migration f5a7b9c1d3e6), and all of them alike:
    PostgreSQL refuses to join columns of two collations, and the opt-out
    and contact-cap checks join recipients by cpr_hmac
    (tests/test_citizen_protection.py runs those joins)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite compares every column by code point (BINARY)")
    collations = db.session.execute(
        sa.text(
            "SELECT table_name || '.' || column_name, collation_name FROM information_schema.columns "
            "WHERE column_name IN ('cpr_hmac', 'token') AND table_schema = current_schema() "
            "AND table_name IN ('recipient', 'recipient_cpr', 'citizen_contact', 'citizen_opt_out')"
        )
    ).all()
    assert dict(collations) == {
        "recipient.cpr_hmac": "C",
        "recipient.token": "C",
        "recipient_cpr.cpr_hmac": "C",
        "citizen_contact.cpr_hmac": "C",
        "citizen_opt_out.cpr_hmac": "C",
    }
