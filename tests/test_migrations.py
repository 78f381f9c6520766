"""The Alembic migrations build the whole schema on an empty database."""

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from extensions import db


def test_upgrade_empty_database_to_head_matches_the_models(tmp_path, redis_url):
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite'}", REDIS_URL=redis_url)
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from models.members import include_in_autogenerate

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
