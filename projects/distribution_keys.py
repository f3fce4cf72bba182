"""Primary keys that include distinct_id, the column the end-user store is distributed on.

Citus (docs/scaling.md) refuses a primary key or unique constraint of a distributed table that
lacks its distribution column: each shard can enforce uniqueness only among its own rows. The
store tables' unique constraints already lead with `(project, distinct_id)`; only their key,
`id`, lacked it. So on PostgreSQL each table's unique constraint becomes its primary key (events:
the dedupe key `(project, distinct_id, time, name, insert_id)`; profiles and identity links:
`(project, distinct_id)`), and `id` keeps a plain index: the same two indexes as before, so
ingestion writes no more than it did. (A new key `(distinct_id, id)` beside them would have been
a third index, written at random places by every insert: 100,000 events into a 3M-event copy
took 58% longer with it, median of 7.)

Online, without a copy, while ingestion writes:

1. `CREATE UNIQUE INDEX CONCURRENTLY` on the constraint's columns, under a temporary name.
2. `CREATE INDEX CONCURRENTLY` on `(id)`, plain: the ORM still reaches rows by `id` alone
   (profile ingestion's `bulk_update` and `pk__in` deletes, partial deletions, the engage
   query's `Max(pk)`, the admin's change page), which the old key's index served. A plain index
   is allowed on Citus.
3. One short `ALTER TABLE … DROP CONSTRAINT <pkey>, DROP CONSTRAINT <unique>, ADD CONSTRAINT
   <unique> PRIMARY KEY USING INDEX <temporary>`: the columns are already NOT NULL and the index
   already built, so it only swaps catalog entries, under a lock held for milliseconds. The
   constraint keeps its name, so Django's later migrations find it; `ON CONFLICT (<columns>)`
   infers the key's index as it inferred the constraint's. The swap waits at most LOCK_TIMEOUT
   for its lock and retries, so a long query on the table delays it instead of queueing every
   write behind it.

Django's model state keeps `id` as the primary key and the constraint as a UniqueConstraint:
Django 5.2 can neither register a CompositePrimaryKey model in the admin (where staff read these
tables) nor point a ForeignKey at one. `id` stays unique in practice: it comes from the column's
identity sequence, and nothing inserts an id of its own. A later migration that alters `id`
would have Django look the key up by introspection and find this one: write it by hand.

SQLite, the embedded development database, is never distributed: its tables keep their key.

A failed build leaves an INVALID index (see projects/concurrent_indexes.py); running `migrate`
again drops it and builds again, and a table whose key is already the constraint is left as it
is.
"""

import time

from django.db import OperationalError, transaction
from django.db.migrations.operations import AlterField
from django.db.migrations.operations.base import Operation

# How long the swap may wait for its lock, and how many times it tries.
LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 10
LOCK_NOT_AVAILABLE = "55P03"


class UniqueConstraintAsPrimaryKey(Operation):
    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, name: str):
        self.model_name = model_name
        self.name = name

    def deconstruct(self):
        return (self.__class__.__name__, [], {"model_name": self.model_name, "name": self.name})

    def state_forwards(self, app_label, state):
        pass  # the model state keeps `id` as its key (see the module's docstring)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is None:
            return
        connection = schema_editor.connection
        key, _ = _primary_key(connection, table)
        if key == self.name:
            return
        columns = _constraint_columns(connection, table, self.name)
        staged = f"{table}_key_swap"
        _build_concurrently(schema_editor, table, staged, columns, unique=True)
        _build_concurrently(schema_editor, table, f"{table}_by_id", ["id"], unique=False)
        _swap(
            schema_editor,
            table,
            f"DROP CONSTRAINT {key}, DROP CONSTRAINT {self.name}, "
            f"ADD CONSTRAINT {self.name} PRIMARY KEY USING INDEX {staged}",
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is None:
            return
        connection = schema_editor.connection
        key, columns = _primary_key(connection, table)
        if key != self.name:
            return
        id_key, staged = f"{table}_id_key", f"{table}_unique_swap"
        _build_concurrently(schema_editor, table, id_key, ["id"], unique=True)
        _build_concurrently(schema_editor, table, staged, columns, unique=True)
        _swap(
            schema_editor,
            table,
            f"DROP CONSTRAINT {self.name}, "
            f"ADD CONSTRAINT {table}_pkey PRIMARY KEY USING INDEX {id_key}, "
            f"ADD CONSTRAINT {self.name} UNIQUE USING INDEX {staged}",
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {table}_by_id")

    def describe(self) -> str:
        return f"Constraint {self.name} as the primary key of {self.model_name} (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name}_key_{self.name}"

    def _table(self, app_label, schema_editor, state) -> str | None:
        """The model's table, when this database gets the new key."""
        if schema_editor.connection.vendor != "postgresql":
            return None
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        return model._meta.db_table


def _constraints(connection, table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


def _primary_key(connection, table: str) -> tuple[str, list[str]]:
    ((name, columns),) = [
        (name, info["columns"])
        for name, info in _constraints(connection, table).items()
        if info["primary_key"]
    ]
    return name, columns


def _constraint_columns(connection, table: str, name: str) -> list[str]:
    return _constraints(connection, table)[name]["columns"]


def _build_concurrently(schema_editor, table: str, name: str, columns: list[str], *, unique: bool):
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
    quoted = ", ".join(schema_editor.quote_name(column) for column in columns)
    schema_editor.execute(f"CREATE {unique_sql}INDEX CONCURRENTLY {name} ON {table} ({quoted})")


def _swap(schema_editor, table: str, changes: str) -> None:
    connection = schema_editor.connection
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias):
                schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                schema_editor.execute(f"ALTER TABLE {table} {changes}")
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
