"""PostgreSQL and Redis servers of a test's or a chaos run's own, which it may stop, kill and
start again without touching the machine's shared services (issue 16, section 1).

PostgreSQL: `initdb` in a temporary folder and `pg_ctl` on a free port, fsync off (the data
is scratch). initdb refuses to run as root: as root, the cluster belongs to the
`postgres` user and its commands run as that user.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from config.processes import Child

PG_USER = "postgres"


class ServerFailed(Exception):
    pass


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster in a folder of its own, listening on 127.0.0.1:port only."""

    def __init__(self, *, port: int | None = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServerFailed("PostgreSQL's initdb is not installed")
        self.bin_dir = bin_dir
        self.port = port or unused_port()
        # Not under pytest's tmp_path: its parents are private to root, and the cluster's
        # owner must reach the folder.
        self.directory = Path(tempfile.mkdtemp(prefix="private-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam(PG_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as_owner = ["runuser", "-u", PG_USER, "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout: float = 30) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            # fsync off: the data is scratch, and an immediate stop is no power cut, so the OS
            # still writes what was committed. synchronous_commit stays on: off, an immediate
            # stop loses commits the clients were told of.
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", str(int(timeout)), "start")  # fmt: skip

    def stop(self, *, mode: str = "fast") -> None:
        """fast: connections are cut, as a restart by an operator does; immediate: as a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run(  # noqa: S603 - fixed command
            [*self._as_owner, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def create_database(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def destroy(self) -> None:
        if self.running():
            self.stop(mode="immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - fixed commands
            [*self._as_owner, str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise ServerFailed(f"{program} {' '.join(args)}: {done.stdout}{done.stderr}\n{log}")


class PrivateRedis:
    """A redis-server on a free port that starts empty each time, as one that lost its data."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or unused_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = Path(tempfile.mkdtemp(prefix="private-redis-"))
        self.process: Child | None = None

    def start(self, *, timeout: float = 10) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = Child(command, env=dict(os.environ), collect_output=True)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise ServerFailed(f"redis-server exited:\n{self.process.output()}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerFailed(f"redis-server did not answer:\n{self.process.output()}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
            self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
