"""The end-user store is ready to be distributed on distinct_id (issue 20; docs/scaling.md):
Citus refuses a primary key or unique constraint of a distributed table without the
distribution column, and a foreign key from a distributed table to a local one. The database
itself is read, as migrations left it."""

import threading

import django.apps
import psycopg
import pytest
from django.db import IntegrityError, connection
from django.db.migrations.state import ProjectState

from projects import distribution_keys
from projects.distribution_keys import UniqueConstraintAsPrimaryKey
from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile
from tests.factories import EventFactory, ProjectFactory

ON_POSTGRESQL = connection.vendor == "postgresql"
DISTRIBUTED = [Event, Profile, IdentityLink, IdentityLinkRecord]
# Each table's primary key on PostgreSQL: its unique constraint (migrations 0009 and 0010).
KEYS = {
    Event: (
        "event_dedupe_and_subject_lookup",
        ["project_id", "distinct_id", "time", "name", "insert_id"],
    ),
    Profile: ("profile_unique_distinct_id", ["project_id", "distinct_id"]),
    IdentityLink: ("identity_link_one_cluster_per_id", ["project_id", "distinct_id"]),
    IdentityLinkRecord: (
        "identity_link_record_unique",
        ["project_id", "distinct_id", "canonical_id", "kind", "authenticated", "outcome"],
    ),
}
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="the store is distributed on PG")


def constraints(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, model._meta.db_table)


def primary_key(model) -> tuple[str, list[str]]:
    (key,) = [
        (name, info["columns"]) for name, info in constraints(model).items() if info["primary_key"]
    ]
    return key


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("model", DISTRIBUTED, ids=lambda model: model.__name__)
def test_every_key_of_a_store_table_includes_distinct_id(model):
    keys = {
        name: info["columns"]
        for name, info in constraints(model).items()
        if info["primary_key"] or info["unique"]
    }

    assert primary_key(model) == KEYS[model]
    assert {name: columns for name, columns in keys.items() if "distinct_id" not in columns} == {}


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("model", DISTRIBUTED, ids=lambda model: model.__name__)
def test_no_store_table_has_a_foreign_key(model):
    # Not to a local table, which Citus refuses, nor to another store table: a link's record
    # lives on another id's shard (migration 0010).
    foreign = {name: info["foreign_key"] for name, info in constraints(model).items()}

    assert {name: target for name, target in foreign.items() if target} == {}


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite only")
@pytest.mark.django_db
def test_sqlite_keeps_its_tables_as_they_were():
    assert [primary_key(model)[1] for model in DISTRIBUTED] == [["id"]] * 4
    # The link's record keeps its constraint here: a dangling reference fails the unit tests.
    assert [
        info["foreign_key"]
        for info in constraints(IdentityLink).values()
        if info["foreign_key"] and info["foreign_key"][0] == IdentityLinkRecord._meta.db_table
    ] == [(IdentityLinkRecord._meta.db_table, "id")]


@pytest.mark.django_db
def test_the_orm_still_reaches_an_event_by_id():
    event = EventFactory(project=ProjectFactory())

    assert Event.objects.get(pk=event.pk).distinct_id == event.distinct_id
    assert Event.objects.filter(pk=event.pk).update(name="Renamed") == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_key_swap_reverses_and_runs_again_over_a_failed_build():
    EventFactory.create_batch(3, project=ProjectFactory(), distinct_id="alice")
    operation = UniqueConstraintAsPrimaryKey(
        model_name="event", name="event_dedupe_and_subject_lookup"
    )
    state = ProjectState.from_apps(django.apps.apps)

    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("projects", editor, state, state)
    reversed_keys = {
        name: (info["primary_key"], info["columns"])
        for name, info in constraints(Event).items()
        if info["unique"]
    }
    with connection.cursor() as cursor, pytest.raises(IntegrityError):
        # A concurrent build that fails (here on alice's three events) leaves an INVALID index.
        cursor.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY projects_event_key_swap "
            "ON projects_event (distinct_id)"
        )
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("projects", editor, state, state)

    assert reversed_keys == {
        "projects_event_pkey": (True, ["id"]),
        "event_dedupe_and_subject_lookup": (False, KEYS[Event][1]),
    }
    assert primary_key(Event) == KEYS[Event]
    plain = [
        info["columns"]
        for info in constraints(Event).values()
        if info["index"] and not info["unique"] and info["columns"] == ["id"]
    ]
    assert plain == [["id"]]
    # Mixpanel's dedupe still holds through the key: the same event again is refused.
    event = Event.objects.first()
    with pytest.raises(IntegrityError):
        Event.objects.create(
            project_id=event.project_id,
            distinct_id=event.distinct_id,
            name=event.name,
            time=event.time,
            insert_id=event.insert_id,
            ingested_at=event.ingested_at,
        )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_swap_waits_briefly_for_its_lock_and_tries_again(monkeypatch):
    """A long query holding the table delays the swap; the swap never queues writes behind it
    for longer than its lock timeout."""
    monkeypatch.setattr(distribution_keys, "LOCK_TIMEOUT", "100ms")
    operation = UniqueConstraintAsPrimaryKey(
        model_name="profile", name="profile_unique_distinct_id"
    )
    state = ProjectState.from_apps(django.apps.apps)
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("projects", editor, state, state)
    settings = connection.settings_dict
    reader = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    releaser = threading.Timer(0.5, reader.commit)
    build = distribution_keys._build_concurrently

    def build_then_read(schema_editor, table, name, columns, *, unique):
        build(schema_editor, table, name, columns, unique=unique)
        if name.endswith("_by_id"):  # the builds are done: a long read holds the table
            reader.execute("SELECT count(*) FROM projects_profile")
            releaser.start()

    monkeypatch.setattr(distribution_keys, "_build_concurrently", build_then_read)
    alters = []

    def count_alters(execute, sql, params, many, context):
        if sql.startswith("ALTER TABLE"):
            alters.append(sql)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(count_alters):
            with connection.schema_editor(atomic=False) as editor:
                operation.database_forwards("projects", editor, state, state)
    finally:
        if releaser.ident is not None:
            releaser.join()
        reader.close()

    assert primary_key(Profile) == KEYS[Profile]
    assert len(alters) == 2  # refused once after 100 ms, done after a one-second pause
