import django.db.models.deletion
from django.db import migrations, models

from projects.distribution_keys import AlterFieldOnPostgreSQL, UniqueConstraintAsPrimaryKey


class Migration(migrations.Migration):
    """The last two prerequisites docs/scaling.md listed for distributing the store on
    distinct_id (issue 20), on PostgreSQL:

    1. IdentityLink.record keeps no database constraint. Citus allows a foreign key between
       distributed tables only when it includes the distribution column on both sides, and a
       link row (a merge's: the joining cluster's root) lives on its own distinct_id's shard
       while its record is keyed by the id that asked to join. Dropping the constraint is a
       catalog change; the engine already clears the links that point at records before it
       deletes them (projects.identity_removal), and SQLite keeps the constraint, so the unit
       tests still catch a dangling reference.
    2. IdentityLinkRecord's unique constraint (led by project and distinct_id) becomes its
       primary key, as migration 0009 did for the three other store tables: built
       concurrently, swapped in one catalog-only statement; `id` keeps a plain index.

    Not atomic: CREATE INDEX CONCURRENTLY cannot run in a transaction. The constraint goes
    first: a foreign key must reference a unique key, and the swap drops `id`'s.
    """

    atomic = False

    dependencies = [
        ('projects', '0009_store_primary_keys_with_distinct_id'),
    ]

    operations = [
        AlterFieldOnPostgreSQL(
            model_name='identitylink',
            name='record',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.identitylinkrecord'),
        ),
        UniqueConstraintAsPrimaryKey(model_name='identitylinkrecord', name='identity_link_record_unique'),
    ]
