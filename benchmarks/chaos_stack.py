"""The servers and processes of a chaos run (benchmarks/chaos.py): PostgreSQL and Redis of its
own, gunicorn, one rqworker that the run kills and that is started again when it exits."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from django.conf import settings

from benchmarks.private_servers import PrivatePostgres, PrivateRedis, unused_port
from config.processes import Child

Say = Callable[[str], None]


class Stack:
    """PostgreSQL, Redis, gunicorn and one rqworker of the run's own."""

    def __init__(self, *, say: Say) -> None:
        self.say = say
        self.var = Path(tempfile.mkdtemp(prefix="chaos-var-"))
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis()
        self.port = unused_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "0",
            "DATABASE_URL": self.postgres.url("chaos"),
            "REDIS_URL": self.redis.url,
            "VAR_DIR": str(self.var),
            "PYTHONUNBUFFERED": "1",
            "PRIVACY_SWEEP_INTERVAL": "10",
            "PRIVACY_LEASE_SECONDS": "5",
            "PRIVACY_API_RATE_CREATE": "100000/min",
            "PRIVACY_API_RATE_READ": "100000/min",
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        }
        self.web: Child | None = None
        self.worker: Child | None = None
        self.secrets: dict = {}
        self.worker_starts = 0
        self.worker_lock = threading.Lock()

    def start(self) -> None:
        self.postgres.start()
        self.postgres.create_database("chaos")
        self.redis.start()
        self.manage("migrate", "-v", "0")
        created = self.manage(
            "createorg", "--org", "Chaos", "--owner", "owner@chaos.test", "--project", "Load",
            "--json",
        )  # fmt: skip
        self.secrets = json.loads(created.strip().splitlines()[-1])
        self.web = Child(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "2"],
            env=self.env, cwd=settings.BASE_DIR, collect_output=True,
        )  # fmt: skip
        self.web.wait_for_http(f"{self.base_url}/healthz", timeout=60)
        self.worker_start()

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(  # noqa: S603 - fixed command
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
            env=self.env,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def worker_start(self) -> None:
        self.worker = Child(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "rqworker", "default"],
            env=self.env,
            cwd=settings.BASE_DIR,
            collect_output=True,
        )
        self.worker_starts += 1

    def worker_supervise(self) -> None:
        """Starts the worker again when it exited (say, when PostgreSQL was away as it
        started), as systemd or an orchestrator would."""
        with self.worker_lock:
            if self.worker is not None and self.worker.poll() is not None:
                self.worker.stop(grace=1)
                self.worker_start()

    def worker_kill(self) -> None:
        with self.worker_lock:
            if self.worker is not None:
                self.worker.kill()
            self.worker_start()

    def redis_restart(self, down: float) -> None:
        self.redis.stop()
        time.sleep(down)
        self.redis.start()

    def postgres_restart(self, down: float, mode: str) -> None:
        self.postgres.stop(mode=mode)
        time.sleep(down)
        self.postgres.start()

    def database(self) -> psycopg.Connection:
        return psycopg.connect(self.postgres.url("chaos"), connect_timeout=5, autocommit=True)

    def close(self) -> None:
        for child in (self.worker, self.web):
            if child is not None:
                child.stop(grace=2)
        self.redis.destroy()
        self.postgres.destroy()
        shutil.rmtree(self.var, ignore_errors=True)
