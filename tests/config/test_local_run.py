"""What `manage.py runlocal` hands its children."""

import pytest

from config.local_run import LocalRun


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8123"),
        ({"SITE_URL": ""}, "http://127.0.0.1:8123"),
        ({"SITE_URL": "https://privacy.example.com"}, "https://privacy.example.com"),
    ],
)
def test_the_children_link_emails_to_the_run_commands_own_address(
    monkeypatch, tmp_path, environment, expected
):
    monkeypatch.delenv("SITE_URL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    started: dict[str, dict[str, str]] = {}
    run = LocalRun(say=lambda line: None)
    monkeypatch.setattr(
        run, "_start", lambda name, command, env, stop_grace: started.setdefault(name, env)
    )
    monkeypatch.setattr(run, "_wait_until_ready", lambda url: False)

    run.serve(
        address="127.0.0.1:8123",
        url="http://127.0.0.1:8123/",
        no_redis=True,
        var_dir=tmp_path,
        login="demo",
    )

    assert sorted(started) == ["sweep", "web server"]
    assert {name: env["SITE_URL"] for name, env in started.items()} == {
        "sweep": expected,
        "web server": expected,
    }
