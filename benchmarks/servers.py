"""The real gunicorn the benchmarks drive over HTTP, as deployed: no debug bookkeeping,
persistent database connections, plain HTTP on a free local port."""

import os
import socket
import sys
from collections.abc import Callable

from django.conf import settings

from benchmarks.database import database_url
from benchmarks.errors import BenchRefused
from config.processes import Child, ChildFailed

SERVER_START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class BenchServer:
    """gunicorn with `workers` gthread workers (they keep client connections alive between
    requests; sync workers do not). Use as a context manager: it stops with its workers."""

    def __init__(
        self,
        *,
        workers: int,
        threads: int = 1,
        extra_env: dict[str, str] | None = None,
        say: Callable[[str], None] | None = None,
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            # The database and Redis this process uses, however their settings were given.
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE") or "60",
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.production"
            ),
            **(extra_env or {}),
        }
        self.child = Child(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "300",
                "--log-level",
                "warning",
                "config.wsgi:application",
            ],  # fmt: skip
            cwd=settings.BASE_DIR,
            env=env,
            collect_output=True,
        )
        self._say = say

    @property
    def pid(self) -> int:
        return self.child.pid

    def __enter__(self) -> "BenchServer":
        try:
            self.child.wait_for_http(self.base + "/healthz", timeout=SERVER_START_TIMEOUT)
        except ChildFailed as exc:
            exited = self.child.poll()
            self.child.stop(grace=10)
            if exited is not None:
                raise BenchRefused(
                    f"gunicorn exited with status {exited}: " + last_line(self.child.output())
                ) from exc
            raise BenchRefused(
                f"gunicorn did not answer within {SERVER_START_TIMEOUT:.0f} s."
            ) from exc
        if self._say is not None:
            self._say(f"  gunicorn (pid {self.child.pid}) answers on 127.0.0.1:{self.port}")
        return self

    def __exit__(self, *exc_info) -> None:
        self.child.stop(grace=30)  # the arbiter and its workers
