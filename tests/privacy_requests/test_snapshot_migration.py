"""Requests that started before snapshots by time keep a snapshot (migration 0021)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("privacy_requests", "0020_retention_runs")]
AFTER = [("privacy_requests", "0022_remove_snapshot_max_event_id")]


@pytest.mark.django_db(transaction=True)
def test_a_started_request_gets_its_start_as_snapshot_and_a_waiting_one_none():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    organization = old_apps.get_model("accounts", "Organization").objects.create(name="Acme")
    project = old_apps.get_model("projects", "Project").objects.create(
        organization=organization, name="Web", token="t" * 32, api_secret_hash="h" * 64
    )
    Request = old_apps.get_model("privacy_requests", "PrivacyRequest")
    now = timezone.now()
    started_at = now - timedelta(minutes=5)

    def request(tracking_id, **fields):
        return Request.objects.create(
            tracking_id=tracking_id,
            organization=organization,
            project=project,
            requested_by="web:o@example.com",
            kind="deletion",
            compliance="GDPR",
            channel="web",
            received_at=now - timedelta(hours=1),
            due_at=now,
            not_before=now,
            **fields,
        )

    request("in-flight", status="STARTED", started_at=started_at, snapshot_max_event_id=42)
    request("waiting", status="STAGING")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new_apps = executor.loader.project_state(AFTER).apps
    snapshots = dict(
        new_apps.get_model("privacy_requests", "PrivacyRequest").objects.values_list(
            "tracking_id", "snapshot_at"
        )
    )

    assert snapshots == {"in-flight": started_at, "waiting": None}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
