"""The end-user lookup's indexes (issue 18): built concurrently on PostgreSQL, where a failed
concurrent build leaves an INVALID index that migrating again must repair; on SQLite only the
portable one exists (a PostgreSQL-only index there would be a syntax error)."""

import django.apps
import pytest
from django.db import IntegrityError, connection
from django.db.migrations.state import ProjectState

from projects.concurrent_indexes import AddIndexConcurrentlyWhereSupported
from projects.models import Profile
from tests.factories import ProfileFactory, ProjectFactory

ON_POSTGRESQL = connection.vendor == "postgresql"
LOOKUP_INDEXES = {"profile_by_email_lower", "profile_by_property", "profile_by_id_prefix"}


def profile_indexes() -> dict[str, dict]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Profile._meta.db_table)
    return {name: found[name] for name in LOOKUP_INDEXES & set(found)}


@pytest.mark.django_db
def test_the_lookup_indexes_exist_where_the_database_has_them():
    expected = LOOKUP_INDEXES if ON_POSTGRESQL else {"profile_by_email_lower"}
    assert set(profile_indexes()) == expected


@pytest.mark.skipif(not ON_POSTGRESQL, reason="CREATE INDEX CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_migrating_again_repairs_a_failed_concurrent_build():
    project = ProjectFactory()
    ProfileFactory.create_batch(2, project=project)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX profile_by_id_prefix")
        # A unique build over two rows of one project fails, and leaves its index INVALID.
        with pytest.raises(IntegrityError):
            cursor.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY profile_by_id_prefix "
                "ON projects_profile (project_id)"
            )
    (index,) = [index for index in Profile._meta.indexes if index.name == "profile_by_id_prefix"]
    operation = AddIndexConcurrentlyWhereSupported(model_name="profile", index=index)
    state = ProjectState.from_apps(django.apps.apps)

    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("projects", editor, state, state)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_index.indisvalid, pg_index.indisunique, pg_get_indexdef(pg_class.oid) "
            "FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
            "WHERE pg_class.relname = 'profile_by_id_prefix'"
        )
        valid, unique, definition = cursor.fetchone()
    assert (valid, unique) == (True, False)
    assert "(project_id, distinct_id varchar_pattern_ops)" in definition
