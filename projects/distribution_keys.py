"""Primary keys that include distinct_id, the column the end-user store is distributed on.

Citus (docs/scaling.md) refuses a primary key or unique constraint of a distributed table that
lacks its distribution column: each shard can enforce uniqueness only among its own rows. So the
store tables' primary key becomes `(distinct_id, id)` on PostgreSQL, without a copy and without
stopping ingestion:

1. `CREATE UNIQUE INDEX CONCURRENTLY` on `(distinct_id, id)`: writes go on while it builds.
2. `CREATE INDEX CONCURRENTLY` on `(id)`, plain: the ORM still reaches rows by `id` alone
   (profile ingestion's `bulk_update` and `pk__in` deletes, the engage query's `Max(pk)`, the
   admin's change page), which the old key's index served. A plain index is allowed on Citus.
3. One short `ALTER TABLE … DROP CONSTRAINT <pkey>, ADD CONSTRAINT <pkey> PRIMARY KEY USING
   INDEX …`: the columns are already NOT NULL and the index already built, so it only swaps
   catalog entries, under a lock held for milliseconds. It waits at most LOCK_TIMEOUT for that
   lock and retries, so a long query on the table delays the swap instead of queueing every
   write behind it.

Django's model state keeps `id` as the primary key: Django 5.2 can neither register a
CompositePrimaryKey model in the admin (where staff read these tables) nor point a ForeignKey at
one. `id` stays unique in practice: it comes from the column's identity sequence, and nothing
inserts an id of its own. A later migration that alters `id` would have Django look the key up
by introspection and find this one: write such a migration by hand.

SQLite, the embedded development database, is never distributed: its tables keep their key.

A failed build leaves an INVALID index (see projects/concurrent_indexes.py); running `migrate`
again drops it and builds again, and a table whose key already includes distinct_id is left as
it is.
"""

import time

from django.db import OperationalError, transaction
from django.db.migrations.operations import AlterField
from django.db.migrations.operations.base import Operation

# How long the swap may wait for its lock, and how many times it tries.
LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 10
LOCK_NOT_AVAILABLE = "55P03"


class PrimaryKeyWithDistinctId(Operation):
    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str):
        self.model_name = model_name

    def deconstruct(self):
        return (self.__class__.__name__, [], {"model_name": self.model_name})

    def state_forwards(self, app_label, state):
        pass  # the model state keeps `id` as its key (see the module's docstring)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is None:
            return
        if _primary_key(schema_editor.connection, table)[1] == ["distinct_id", "id"]:
            return
        key_index, id_index = f"{table}_distinct_id_id_key", f"{table}_by_id"
        _build_concurrently(schema_editor, table, key_index, "distinct_id, id", unique=True)
        _build_concurrently(schema_editor, table, id_index, "id", unique=False)
        _swap_primary_key(schema_editor, table, key_index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is None:
            return
        if _primary_key(schema_editor.connection, table)[1] == ["id"]:
            return
        key_index, id_index = f"{table}_id_key", f"{table}_by_id"
        _build_concurrently(schema_editor, table, key_index, "id", unique=True)
        _swap_primary_key(schema_editor, table, key_index)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {id_index}")

    def describe(self) -> str:
        return f"Primary key (distinct_id, id) of {self.model_name} (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name}_key_with_distinct_id"

    def _table(self, app_label, schema_editor, state) -> str | None:
        """The model's table, when this database gets the new key."""
        if schema_editor.connection.vendor != "postgresql":
            return None
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        return model._meta.db_table


def _primary_key(connection, table: str) -> tuple[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    ((name, columns),) = [
        (name, info["columns"]) for name, info in constraints.items() if info["primary_key"]
    ]
    return name, columns


def _build_concurrently(schema_editor, table: str, name: str, columns: str, *, unique: bool):
    """Builds the index concurrently, after dropping an INVALID leftover of a failed build; a
    valid index of that name is kept."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_index.indisvalid FROM pg_index "
            "JOIN pg_class ON pg_class.oid = pg_index.indexrelid WHERE pg_class.relname = %s",
            [name],
        )
        found = cursor.fetchone()
    if found is not None and found[0]:
        return
    if found is not None:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    unique_sql = "UNIQUE " if unique else ""
    schema_editor.execute(f"CREATE {unique_sql}INDEX CONCURRENTLY {name} ON {table} ({columns})")


def _swap_primary_key(schema_editor, table: str, index: str) -> None:
    connection = schema_editor.connection
    name, _ = _primary_key(connection, table)
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias):
                schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                schema_editor.execute(
                    f"ALTER TABLE {table} DROP CONSTRAINT {name}, "
                    f"ADD CONSTRAINT {name} PRIMARY KEY USING INDEX {index}"
                )
            return
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == SWAP_ATTEMPTS:
                raise
            time.sleep(attempt)


class AlterFieldOnPostgreSQL(AlterField):
    """An AlterField whose schema change PostgreSQL gets and SQLite does not. Dropping a foreign
    key constraint is one catalog change on PostgreSQL; SQLite would rebuild the whole table to
    do it, and its store is never distributed, so there it keeps the constraint (which a
    project's deletion, removing the rows before the project, satisfies)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
