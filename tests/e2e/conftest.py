"""Real processes for end-to-end tests: start them, read their output, talk HTTP, stop them."""

import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, NoReturn

import pytest
from django.conf import settings

from config.processes import Child, ChildFailed

MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"


class Spawned(Child):
    """A child process in a session of its own, its output collected line by line; a wait that
    goes wrong fails the test with the child's output."""

    def __init__(self, command: list[str], *, env: dict[str, str]):
        super().__init__(command, env=env, cwd=settings.BASE_DIR, collect_output=True)

    def _fail(self, message: str) -> NoReturn:
        pytest.fail(f"{message}\n--- output of {' '.join(self.command)}:\n{self.output()}")

    def wait_for_line(self, pattern: str, *, timeout: float) -> re.Match:
        try:
            return super().wait_for_line(pattern, timeout=timeout)
        except ChildFailed as exc:
            self._fail(str(exc))

    def wait_for_http(self, url: str, *, timeout: float) -> None:
        try:
            super().wait_for_http(url, timeout=timeout)
        except ChildFailed as exc:
            self._fail(str(exc))

    def wait(self, *, timeout: float | None = None) -> int:
        try:
            return super().wait(timeout=timeout)
        except ChildFailed as exc:
            self._fail(str(exc))

    def stop(self, *, grace: float = 15, **options) -> bool:
        return super().stop(grace=grace, **options)

    def kill(self, *, timeout: float = 10) -> None:
        try:
            super().kill(timeout=timeout)
        except ChildFailed as exc:
            self._fail(str(exc))


@pytest.fixture
def spawn():
    """Starts `manage.py <args>` (or any command) and always stops it after the test."""
    started: list[Spawned] = []

    def start(*manage_args: str, env: dict[str, str], command: list[str] | None = None):
        spawned = Spawned(command or [sys.executable, str(MANAGE_PY), *manage_args], env=env)
        started.append(spawned)
        return spawned

    yield start
    for spawned in reversed(started):
        spawned.stop()


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    url: str
    text: str


class HttpClient:
    """A cookie-keeping HTTP client that follows redirects, like a browser without scripts."""

    def __init__(self) -> None:
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, url: str) -> HttpResponse:
        return self._open(urllib.request.Request(url))  # noqa: S310 (http:// URLs only)

    def post(self, url: str, data: dict[str, str | list[str]]) -> HttpResponse:
        # doseq: a list is a field sent once per value, as a form's checkboxes send it.
        body = urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310
        return self._open(request)

    def sign_in(self, base_url: str, *, email: str, password: str) -> HttpResponse:
        """Signs in through allauth's form, as a person would; returns the page it lands on."""
        login_url = urllib.parse.urljoin(base_url, "/accounts/login/")
        form = self.get(login_url)
        assert form.status == HTTPStatus.OK, form
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert match, f"no CSRF token in the sign-in form:\n{form.text}"
        return self.post(
            login_url,
            {"csrfmiddlewaretoken": match.group(1), "login": email, "password": password},
        )

    def _open(self, request: urllib.request.Request) -> HttpResponse:
        try:
            with self._opener.open(request, timeout=10) as response:
                return HttpResponse(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, error.url, error.read().decode(errors="replace"))


@pytest.fixture
def http() -> HttpClient:
    return HttpClient()


def poll_until(
    condition: Callable[[], Any],
    *,
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.1,
) -> Any:
    """Calls condition() until it returns something truthy, which it returns; fails after
    timeout seconds with message (a string, or a callable that builds one late)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s: {message() if callable(message) else message}")
        time.sleep(interval)


@pytest.fixture
def database_url(transactional_db) -> str:
    """The test database as a URL for child processes; data committed by a transactional
    test reaches them."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


class RedisServer:
    """A redis-server of the test's own (DESIGN section 10), which the test may stop and start
    again on the same port. Nothing persists across a restart, as on a server that lost its
    data."""

    def __init__(self, *, spawn, port: int, directory: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._spawn = spawn
        self._directory = directory
        self.process: Spawned | None = None

    def start(self) -> None:
        import redis

        self._directory.mkdir(parents=True, exist_ok=True)
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self._directory),
        ]
        self.process = self._spawn(command=command, env=dict(os.environ))
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            if self.process.process.poll() is not None:
                self.process.wait(timeout=1)
                self.process._fail(f"exited with code {self.process.process.returncode}")
            try:
                return client.ping()
            except redis.RedisError:
                return False

        poll_until(
            answers,
            timeout=10,
            message=lambda: (
                f"redis-server did not answer on port {self.port}:\n{self.process.output()}"
            ),
        )
        client.close()

    def stop(self) -> None:
        self.process.stop()
        self.process = None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)


@pytest.fixture
def redis_server(spawn, free_port, tmp_path) -> RedisServer:
    """A running redis-server on a free port, for this test alone."""
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed"
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    server = RedisServer(spawn=spawn, port=free_port, directory=tmp_path / "redis")
    server.start()
    return server


@pytest.fixture
def site_env(database_url, redis_server, tmp_path) -> dict[str, str]:
    """The local settings with DEBUG off, the test database and Redis, exports on local disk,
    no MFA for the back office, generous API limits, no sweep booked by the workers."""
    (tmp_path / "media").mkdir()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_SWEEP_INTERVAL="3600",
        PRIVACY_ADMIN_REQUIRE_MFA="0",
        PRIVACY_API_RATE_CREATE="100/min",
        PRIVACY_API_RATE_READ="100/min",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def gunicorn_site(site_env, spawn):
    """gunicorn (one worker process) on site_env; returns its base URL and process."""
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    server = spawn(
        env={**site_env, "SITE_URL": base_url},
        command=[
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--workers", "1", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2",
        ],
    )  # fmt: skip
    server.wait_for_http(f"{base_url}/healthz", timeout=30)
    return base_url, server


# The day's first sweep also writes the audit checkpoint (DESIGN section 3) into private
# storage; tests about requeueing and result files set it aside.
CHECKPOINT_CLAUSE = re.compile(
    r", wrote the audit checkpoint audit-checkpoints/\d{4}-\d\d-\d\d\.json$"
)


def without_checkpoint(sweep_line: str) -> str:
    """A sweep's report line without the clause of the day's audit checkpoint."""
    return CHECKPOINT_CLAUSE.sub("", sweep_line)


def result_files_in(root: Path) -> list[str]:
    """Every file under a local private storage's root but the audit checkpoints."""
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] != "audit-checkpoints"
    )


def unused_port() -> int:
    """A port free right now, for a server the test starts (free_port is the redis-server's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Debian's chromium, never a downloaded browser; the flags keep it off this closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
