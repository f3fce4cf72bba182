"""`bench_privacy` for real on a tiny store, so that it keeps working and its printout keeps
its shape: requests go through the GDPR API of a real gunicorn to a real rqworker, with a
redis-server of the test's own."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from privacy_requests.models import Channel, PrivacyRequest, Status
from projects.models import Event
from tests.e2e.conftest import result_files_in

pytestmark = pytest.mark.e2e

SECONDS = r"\d+\.\d{3} s"
RATIO = r"\d+\.\d\d×"
MS = r"-?\d+ ms"


def test_bench_privacy_reports_submit_to_success_through_the_api_beside_the_job_and_raw_sql(
    database_url, redis_server, settings, monkeypatch, tmp_path
):
    settings.JOBS_SYNC = False
    settings.REDIS_URL = redis_server.url
    settings.RQ_QUEUES = {"default": {"URL": redis_server.url, "DEFAULT_TIMEOUT": 900}}
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    # The server and the worker the bench starts: local settings, files on the test's disk.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings.local")
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PRIVACY_SWEEP_INTERVAL", "3600")
    out = StringIO()

    call_command(
        "bench_privacy",
        *("--events", "3000", "--users", "100", "--subjects", "20", "--repeat", "2"),
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Generating 3,000 events for 100 users")
    for kind, target in (("Export", "2"), ("Deletion", "1.5")):
        for run in ("1/2", "2/2"):
            at = next(i for i, line in enumerate(lines) if line.startswith(f"{kind} {run}: 20 "))
            assert re.fullmatch(
                f"  submit → SUCCESS as the API client saw it: {SECONDS}; "
                f"job started_at → finished_at: {SECONDS}; raw SQL: {SECONDS}",
                lines[at + 1],
            )
            assert re.fullmatch(
                f"  ratios to the raw SQL: end to end {RATIO} \\(target ≤ {target}×\\), "
                f"job {RATIO}",
                lines[at + 2],
            )
            assert re.fullmatch(
                f"  where the time went: create answered in {MS}; queued {MS}, picked up {MS}, "
                f"claimed {MS}, job {MS}, seen {MS}",
                lines[at + 3],
            )
    summary = lines.index("Summary, medians of 2 runs, a store of 3,000 events:")
    for line, kind, target in zip(
        lines[summary + 1 : summary + 3], ("export", "deletion"), ("2", "1.5"), strict=True
    ):
        assert re.fullmatch(
            f"  {kind}: end to end {SECONDS}, job {SECONDS}, raw {SECONDS}; "
            f"end-to-end/raw {RATIO} \\(runs {RATIO}–{RATIO}, target ≤ {target}×\\), "
            f"job/raw {RATIO}",
            line,
        )
    # The deletion against its raw statement as the planner runs it too (the baseline).
    assert re.fullmatch(
        f"    against the raw statement as PostgreSQL plans it alone \\({SECONDS}\\): "
        f"end-to-end {RATIO} \\(runs {RATIO}–{RATIO}, target ≤ 1.5×\\)",
        lines[summary + 3],
    )
    assert re.fullmatch(
        r"  worker memory: work-horse peak RSS \d+ MiB \(target < 200 MiB\); "
        r"idle rqworker \d+ MiB",
        lines[summary + 4],
    )
    assert not any("WRONG" in line for line in lines)
    # Through the API's door, to the end; the packages purged, the deletions' receipts kept.
    requests = PrivacyRequest.objects.order_by("id")
    assert [(r.kind, r.channel, r.status) for r in requests] == [
        ("export", Channel.API, Status.SUCCESS),
        ("export", Channel.API, Status.SUCCESS),
        ("deletion", Channel.API, Status.SUCCESS),
        ("deletion", Channel.API, Status.SUCCESS),
    ]
    assert [r.result_purge_reason for r in requests[:2]] == ["benchmark file, not kept"] * 2
    for deletion in requests[2:]:
        subjects = list(deletion.subjects.values_list("distinct_id", flat=True))
        assert not Event.objects.filter(distinct_id__in=subjects).exists()
        assert deletion.counts["events"] > 0
    assert [Path(name).suffix for name in result_files_in(tmp_path / "media")] == [".json"] * 2
