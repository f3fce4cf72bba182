"""The event-id snapshot is gone (issue 20): its own migration, so that the data migration
before it commits first (PostgreSQL refuses to alter a table with pending trigger events)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0021_snapshot_at")]

    operations = [
        migrations.RemoveField(model_name="privacyrequest", name="snapshot_max_event_id"),
    ]
