"""The migrations are the schema: applying them gives exactly what the models declare."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from callrec.models import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migrations_create_the_settings_row_with_the_platform_defaults(app):
    from callrec.models import PolicyRevision, Settings

    with app.app_context():
        settings = db.session.get(Settings, 1)
        assert settings.records_delivery_enabled is False
        assert (settings.record_start_code, settings.record_stop_code) == ("*44", "*45")
        assert db.session.get(PolicyRevision, 1) is not None
