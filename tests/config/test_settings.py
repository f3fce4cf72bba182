import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.utils import get_random_secret_key

from config.key_strength import key_weakness

REPO = Path(__file__).resolve().parents[2]
# Four random keys, each its own (secrets.token_urlsafe(48) once): what production needs.
STRONG_KEYS = {
    "SECRET_KEY": "3Wq0v9mJkXo2r8T5yLbN1cHfZpAeGdUi7sQwRt4uVx6nMjKl-hBgYzCa_PoIe0Ds",
    "PRIVACY_AUDIT_KEY": "qL7tY2zH9kWcV4nR1bX8mJ5pF0sD3gA6eU-oIiT_yQwErZxCvBn7MkLj2HgFd4Sa",
    "PRIVACY_PII_KEY": "Zx8Kp3Lm0Qw5Er2Ty7Ui4Op1As6Df9Gh-Jk_LzXcVbNmQaWsEdRfTgYhUjIkOlP3",
    "PRIVACY_LOOKUP_KEY": "Mn4Bv7Cx1Zl0Kj9Hg2Fd5Sa8Qp3Wo6Ei-Ru_Ty1Ui4Op7Az2Sx5Dc8Fv0Gb3Nh6J",
}


def load_production(
    code: str = "print('started')", **env_overrides: str
) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        **STRONG_KEYS,
    }
    env.update(env_overrides)
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


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


KEY_NAMES = list(STRONG_KEYS)


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for index, a in enumerate(KEY_NAMES) for b in KEY_NAMES[index + 1 :]],
)
def test_production_settings_refuse_two_keys_with_the_same_value(first, second):
    result = load_production(**{second: STRONG_KEYS[first]})

    assert result.returncode != 0
    assert last_line(result) == (
        "django.core.exceptions.ImproperlyConfigured: "
        f"{first} and {second} have the same value: each key must be a random value of its "
        "own, so that one leaked key opens nothing else."
    )


def test_production_settings_refuse_one_value_for_every_key_naming_each_pair():
    shared = STRONG_KEYS["SECRET_KEY"]
    result = load_production(**dict.fromkeys(KEY_NAMES, shared))

    assert result.returncode != 0
    assert last_line(result).count("have the same value") == 6


GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 40, "its characters carry about 0 bits of entropy, fewer than 90"),
        ("ab" * 20, "its characters carry about 40 bits of entropy, fewer than 90"),
        ("abcdefghij" * 4, "it repeats the same run of characters"),
        ("Password123!" * 3, "it repeats the same run of characters"),
        ("abcdefghijklmnopqrstuvwxyz0123456789ABCD", "it walks through neighbouring characters"),
    ],
)
@pytest.mark.parametrize("variable", KEY_NAMES)
def test_production_settings_refuse_a_guessable_key(variable, value, reason):
    result = load_production(**{variable: value})

    assert result.returncode != 0
    assert last_line(result) == (
        f"django.core.exceptions.ImproperlyConfigured: {variable} looks guessable ({reason}): "
        f"set it to a random value, e.g. the output of {GENERATE}."
    )


def test_random_keys_of_the_usual_generators_pass_the_rule():
    generated = [secrets.token_urlsafe(32) for _ in range(2000)]
    generated += [secrets.token_hex(32) for _ in range(2000)]
    generated += [get_random_secret_key() for _ in range(2000)]

    assert [value for value in generated if key_weakness(value) is not None] == []


def test_production_settings_send_hsts_for_a_year_with_subdomains_by_default():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )

    default = load_production(code)
    chosen = load_production(
        code,
        SECURE_HSTS_SECONDS="63072000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
    )

    assert default.stdout.strip() == "31536000 True False", default.stderr
    assert chosen.stdout.strip() == "63072000 False True", chosen.stderr


def test_production_answers_carry_hsts_and_the_content_security_policy():
    code = (
        "from django.test import Client; "
        "r = Client().get('/healthz', secure=True, headers={'host': 'localhost'}); "
        "print(r.status_code); print(r['Strict-Transport-Security']); "
        "print(r['Content-Security-Policy'])"
    )

    result = load_production(code)

    status, hsts, policy = result.stdout.strip().splitlines()
    assert status == "200", result.stderr
    assert hsts == "max-age=31536000; includeSubDomains"
    assert "script-src 'self';" in policy + ";"
    assert "style-src 'self';" in policy + ";"
