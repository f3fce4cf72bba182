"""The chaos command (issue 16, section 1) for a few seconds: its private PostgreSQL and Redis,
gunicorn and rqworker start, the load runs while at least one fault strikes, every request
ends, and the command reports nothing lost, wrong or duplicated."""

import os
import re

import pytest
from django.conf import settings

from benchmarks.private_servers import postgres_bin_dir

pytestmark = pytest.mark.e2e


def test_a_short_chaos_run_loses_nothing(spawn):
    if postgres_bin_dir() is None:
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail("REQUIRE_E2E=1 but PostgreSQL's initdb is not installed", pytrace=False)
        pytest.skip("PostgreSQL's initdb is not installed")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "PYTHONPATH": str(settings.BASE_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    chaos = spawn("chaos", "--minutes", "0", "--seconds", "10", "--seed", "3", env=env)

    assert chaos.wait(timeout=240) == 0, chaos.output()
    report = chaos.wait_for_line(r"^requests (\d+), lost .*$", timeout=1)
    assert int(report[1]) > 0
    assert report.group(0) == f"requests {report[1]}, lost 0, wrong rows 0, duplicates 0"
    faults = chaos.wait_for_line(r"^events (\d+), 500s 0; faults: (.*)$", timeout=1)
    assert int(faults[1]) > 0
    assert re.search(r"(killed|restarted) [1-9]", faults[2]), faults[2]
