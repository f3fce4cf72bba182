"""Workers' heartbeats: one row per running worker, kept fresh by a thread, gone on a clean stop."""

import logging
import os
import socket
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from privacy_requests import worker as worker_module
from privacy_requests.models import WorkerHeartbeat
from privacy_requests.services.heartbeats import worker_heartbeat_record, worker_heartbeat_remove
from privacy_requests.worker import Heartbeat


def wait_for(condition, *, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"not true after {timeout} s")


@pytest.mark.django_db
def test_a_beat_creates_the_row_then_only_moves_last_seen_and_the_current_request():
    started = timezone.now() - timedelta(minutes=5)
    first = timezone.now() - timedelta(seconds=30)
    worker_heartbeat_record(name="w1", host="box", pid=11, started_at=started, now=first)
    worker_heartbeat_record(
        name="w1", host="ignored", pid=99, started_at=first, current_tracking_id="abc", now=first
    )
    later = first + timedelta(seconds=15)
    worker_heartbeat_record(
        name="w1", host="box", pid=11, started_at=started, current_tracking_id="abc", now=later
    )

    row = WorkerHeartbeat.objects.get()
    assert (row.name, row.host, row.pid) == ("w1", "box", 11)
    assert row.started_at == started
    assert row.last_seen_at == later
    assert row.current_tracking_id == "abc"


@pytest.mark.django_db
def test_a_new_worker_forgets_workers_not_seen_for_a_day():
    now = timezone.now()
    for name, ago in (("dead", timedelta(days=2)), ("stale", timedelta(hours=3))):
        worker_heartbeat_record(name=name, host="box", pid=1, started_at=now - ago, now=now - ago)

    worker_heartbeat_record(name="new", host="box", pid=2, started_at=now, now=now)

    assert sorted(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["new", "stale"]


@pytest.mark.django_db
def test_removing_a_heartbeat_removes_only_that_worker():
    now = timezone.now()
    for name in ("w1", "w2"):
        worker_heartbeat_record(name=name, host="box", pid=1, started_at=now, now=now)

    worker_heartbeat_remove(name="w1")

    assert list(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["w2"]


@pytest.mark.django_db(transaction=True)
def test_the_thread_beats_names_the_current_request_and_removes_its_row_on_stop():
    # The thread has its own database connection: a transactional test sees its writes.
    heartbeat = Heartbeat(name="rq:worker:test", interval=3600)
    heartbeat.start()
    try:
        row = wait_for(lambda: WorkerHeartbeat.objects.filter(name="rq:worker:test").first())
        assert (row.host, row.pid) == (socket.gethostname(), os.getpid())
        assert row.current_tracking_id == ""

        # The interval is an hour: only the wake-up on a job's start can explain a new beat.
        heartbeat.working_on("f00d")
        row = wait_for(
            lambda: WorkerHeartbeat.objects.filter(
                name="rq:worker:test", current_tracking_id="f00d"
            ).first()
        )
        heartbeat.working_on("")
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(
                name="rq:worker:test", current_tracking_id=""
            ).exists()
        )
    finally:
        heartbeat.stop()

    assert not heartbeat.is_alive()
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_logged_once_and_the_beats_resume(monkeypatch, caplog):
    failing = True
    real_record = worker_module.worker_heartbeat_record

    def record(**kwargs):
        if failing:
            raise OperationalError("server closed the connection unexpectedly")
        real_record(**kwargs)

    monkeypatch.setattr(worker_module, "worker_heartbeat_record", record)
    heartbeat = Heartbeat(name="w-outage", interval=3600)

    with caplog.at_level(logging.INFO, logger="privacy_requests.worker"):
        heartbeat.beat()
        heartbeat.beat()
        heartbeat.beat()
        failing = False
        heartbeat.beat()

    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "Could not write the worker heartbeat: server closed the connection unexpectedly",
        "The worker heartbeat is written again.",
    ]
    assert WorkerHeartbeat.objects.filter(name="w-outage").count() == 1
