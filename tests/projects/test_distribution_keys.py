"""The end-user store is ready to be distributed on distinct_id (issue 20; docs/scaling.md):
Citus refuses a primary key or unique constraint of a distributed table without the
distribution column, and a foreign key from a distributed table to a local one. The database
itself is read, as migrations left it."""

import django.apps
import pytest
from django.db import IntegrityError, connection
from django.db.migrations.state import ProjectState

from projects.distribution_keys import PrimaryKeyWithDistinctId
from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile
from tests.factories import EventFactory, ProjectFactory

ON_POSTGRESQL = connection.vendor == "postgresql"
DISTRIBUTED = [Event, Profile, IdentityLink]
# The tables Citus would distribute and co-locate (IdentityLinkRecord with them: end-user data
# that a deletion removes by distinct_id; its key follows when its foreign key goes, see
# docs/scaling.md). A foreign key between two of them is allowed when co-located.
STORE_TABLES = {model._meta.db_table for model in [*DISTRIBUTED, IdentityLinkRecord]}
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="the store is distributed on PG")


def constraints(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, model._meta.db_table)


def primary_key(model) -> list[str]:
    (columns,) = [info["columns"] for info in constraints(model).values() if info["primary_key"]]
    return columns


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("model", DISTRIBUTED, ids=lambda model: model.__name__)
def test_every_key_of_a_store_table_includes_distinct_id(model):
    keys = {
        name: info["columns"]
        for name, info in constraints(model).items()
        if info["primary_key"] or info["unique"]
    }

    assert primary_key(model) == ["distinct_id", "id"]
    assert len(keys) >= 2  # the primary key and the table's own unique constraint
    assert {name: columns for name, columns in keys.items() if "distinct_id" not in columns} == {}


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", [*DISTRIBUTED, IdentityLinkRecord], ids=lambda model: model.__name__
)
def test_no_store_table_has_a_foreign_key_to_a_local_table(model):
    foreign = {
        name: info["foreign_key"]
        for name, info in constraints(model).items()
        if info["foreign_key"] and info["foreign_key"][0] not in STORE_TABLES
    }

    assert foreign == {}


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite only")
@pytest.mark.django_db
def test_sqlite_keeps_its_tables_as_they_were():
    assert [primary_key(model) for model in DISTRIBUTED] == [["id"]] * 3


@pytest.mark.django_db
def test_the_orm_still_reaches_an_event_by_id():
    event = EventFactory(project=ProjectFactory())

    assert Event.objects.get(pk=event.pk).distinct_id == event.distinct_id
    assert Event.objects.filter(pk=event.pk).update(name="Renamed") == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_key_swap_reverses_and_runs_again_over_a_failed_build():
    EventFactory.create_batch(3, project=ProjectFactory(), distinct_id="alice")
    operation = PrimaryKeyWithDistinctId(model_name="event")
    state = ProjectState.from_apps(django.apps.apps)

    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("projects", editor, state, state)
    reversed_key = primary_key(Event)
    with connection.cursor() as cursor, pytest.raises(IntegrityError):
        # A concurrent build that fails (here on alice's three events) leaves an INVALID index.
        cursor.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY projects_event_distinct_id_id_key "
            "ON projects_event (distinct_id)"
        )
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("projects", editor, state, state)

    assert reversed_key == ["id"]
    assert primary_key(Event) == ["distinct_id", "id"]
    plain = [
        info["columns"]
        for info in constraints(Event).values()
        if info["index"] and not info["unique"] and info["columns"] == ["id"]
    ]
    assert plain == [["id"]]
