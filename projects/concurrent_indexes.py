"""Adding an index to a big end-user table without stopping ingestion.

A plain CREATE INDEX holds a lock that blocks every write to the table while it builds (about
15 s for a GIN index over 1 M profiles, minutes over tens of millions): ingestion would stall,
then time out. CREATE INDEX CONCURRENTLY lets writes through; it takes longer, cannot run in a
transaction (the migration must say `atomic = False`), and when it fails (a deadlock, a
canceled statement, a duplicate in a unique index) it leaves an INVALID index of that name
that PostgreSQL keeps updating but never uses. This operation drops such a leftover first, so
running `migrate` again repairs a failed build instead of failing on "already exists".

Other databases (SQLite, for development and the unit tests) create the index the ordinary way
when they can; a PostgreSQL-only index (GIN, an operator class) is left out there, where it
would be a syntax error: the lookups it serves are correct without it, only slower.
"""

from django.contrib.postgres.indexes import PostgresIndex
from django.contrib.postgres.operations import AddIndexConcurrently


class AddIndexConcurrentlyWhereSupported(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._drop_invalid_leftover(schema_editor)
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if self._portable() and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        if self._portable() and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index)

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} (concurrently on PostgreSQL)"

    def _portable(self) -> bool:
        return not isinstance(self.index, PostgresIndex) and not self.index.opclasses

    def _drop_invalid_leftover(self, schema_editor) -> None:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
                "WHERE pg_class.relname = %s AND NOT pg_index.indisvalid",
                [self.index.name],
            )
            if cursor.fetchone() is None:
                return
        schema_editor.execute(
            f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.index.name)}"
        )
