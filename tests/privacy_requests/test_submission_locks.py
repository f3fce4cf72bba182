"""Concurrent submissions to one project (found by `manage.py chaos`, issue 16): an export that
has appended its audit entry commits, and its request's foreign key takes a key-share lock on
the project; a deletion submitted meanwhile holds the project's lock and waits for the audit
chain. With the project locked FOR UPDATE the two waited for each other (deadlock, 500)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from accounts.actors import OPERATOR
from privacy_requests.audit import audit_verify
from privacy_requests.models import PrivacyRequest
from privacy_requests.services import privacy_request_submit
from tests.factories import OrganizationFactory, ProjectFactory


@pytest.mark.django_db(transaction=True)
def test_an_export_committing_while_a_deletion_is_submitted_does_not_deadlock(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    monkeypatch.setattr(
        "privacy_requests.services.submission.privacy_request_enqueue", lambda *, tracking_id: True
    )
    project = ProjectFactory(organization=OrganizationFactory())
    export_appended = threading.Event()
    errors: list[BaseException] = []

    def submit(kind: str, distinct_id: str) -> PrivacyRequest:
        return privacy_request_submit(
            project=project,
            actor=OPERATOR,
            channel="api",
            kind=kind,
            compliance="GDPR",
            distinct_ids=[distinct_id],
        )

    def export() -> None:
        try:
            with transaction.atomic():  # commits (and checks its foreign keys) at the end
                submit("export", "alice")
                export_appended.set()
                time.sleep(1)  # the deletion now holds the project and waits for the chain
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    def deletion() -> None:
        try:
            export_appended.wait(timeout=10)
            submit("deletion", "bob")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=export), threading.Thread(target=deletion)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(PrivacyRequest.objects.values_list("kind", flat=True)) == ["deletion", "export"]
    assert audit_verify(organization_id=project.organization_id) is None
