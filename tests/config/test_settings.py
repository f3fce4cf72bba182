import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STRONG = "k" * 50


def load_production(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": STRONG,
        "PRIVACY_AUDIT_KEY": STRONG,
        "PRIVACY_PII_KEY": STRONG,
        "PRIVACY_LOOKUP_KEY": STRONG,
    }
    env.update(env_overrides)
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_start_with_real_secrets():
    result = load_production()

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


@pytest.mark.parametrize(
    "variable", ["SECRET_KEY", "PRIVACY_AUDIT_KEY", "PRIVACY_PII_KEY", "PRIVACY_LOOKUP_KEY"]
)
def test_production_settings_refuse_a_default_or_short_key(variable):
    missing = load_production(**{variable: ""})
    short = load_production(**{variable: "short"})

    for result in (missing, short):
        assert result.returncode != 0
        assert f"{variable} must be set in the environment" in result.stderr


def test_production_settings_refuse_debug():
    result = load_production(DEBUG="1")

    assert result.returncode != 0
    assert "DEBUG must be off in production settings." in result.stderr
