"""The README's run command: everything on one machine, with nothing to set up.

Migrates the database, seeds the demo and prints its login, then runs the site's processes
(config.local_run) until Ctrl-C or SIGTERM. Without Redis, jobs run synchronously.
"""

from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from config.local_run import (
    LocalRun,
    LocalRunError,
    refuse_if_address_taken,
    refuse_if_embedded_redis_runs,
    url_host,
)
from projects.demo import DEMO_OWNER_EMAIL, demo_password_generate


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
        url = f"http://{url_host(host)}:{port}/"
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Refuse before seeding: a new demo password would lock out the running instance's
            # user.
            refuse_if_address_taken(host, port)
            if not no_redis and not settings.REDIS_URL:
                refuse_if_embedded_redis_runs(var_dir / "redis" / "redis.sock")

            call_command("migrate", interactive=False)
            password = demo_password_generate()
            seeded = StringIO()
            call_command("seed_demo", password=password, site_url=url, stdout=seeded)
            # Printed again, last, in the Ready box: the first copy scrolls away.
            self._say(seeded.getvalue().rstrip("\n"))
            # The children open their own connections; SQLite must not see this one hold a lock.
            connections.close_all()

            LocalRun(say=self._say).serve(
                address=address,
                url=url,
                no_redis=no_redis,
                var_dir=var_dir,
                login=f"sign in as {DEMO_OWNER_EMAIL} with password {password}",
                login_details=seeded.getvalue().rstrip("\n").splitlines(),
            )
        except LocalRunError as exc:
            raise CommandError(str(exc)) from exc
        self._say("Stopped.")

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
