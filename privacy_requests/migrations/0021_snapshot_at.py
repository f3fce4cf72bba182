"""Snapshots by time (issue 20): `snapshot_at` replaces `snapshot_max_event_id`.

A request that started before this migration keeps a snapshot: the moment it first started
(`started_at`), the best stand-in for "the events stored then" that needs no scan of the events.
"""

from django.db import migrations, models
from django.db.models import F


def snapshot_from_start(apps, schema_editor):
    PrivacyRequest = apps.get_model("privacy_requests", "PrivacyRequest")
    started = PrivacyRequest.objects.filter(snapshot_max_event_id__isnull=False)
    started.filter(started_at__isnull=False).update(snapshot_at=F("started_at"))
    # Never seen without started_at, but a snapshot must not be lost: the request's receipt.
    started.filter(started_at__isnull=True).update(snapshot_at=F("received_at"))


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0020_retention_runs")]

    operations = [
        migrations.AddField(
            model_name="privacyrequest",
            name="snapshot_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(snapshot_from_start, migrations.RunPython.noop),
    ]
