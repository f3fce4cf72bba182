from django.core.management.base import CommandError, CommandParser

from benchmarks.chaos import chaos_run
from benchmarks.private_servers import ServerFailed
from config.commands import OperatorCommand, bounded_int_arg


class Command(OperatorCommand):
    help = (
        "Runs a mixed load (ingestion, exports, deletions, cancels) through a real gunicorn and "
        "rqworker for a while, killing the worker and restarting Redis and PostgreSQL at random "
        "(private instances of its own), then checks every request and event; prints "
        "'requests N, lost 0, wrong rows 0, duplicates 0' and fails otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--minutes",
            type=bounded_int_arg(low=0, high=24 * 60),
            default=10,
            help="How long the load and the faults last.",
        )
        parser.add_argument(
            "--seconds",
            type=bounded_int_arg(low=0, high=24 * 3600),
            default=0,
            help="Added to --minutes (a short run for tests).",
        )
        parser.add_argument(
            "--seed",
            type=bounded_int_arg(low=0, high=2**31 - 1),
            default=1,
            help="Seed of the load and of the faults.",
        )

    def handle(self, *args, **options) -> None:
        seconds = options["minutes"] * 60 + options["seconds"]
        if seconds <= 0:
            raise CommandError("Give a duration: --minutes or --seconds.")
        try:
            report = chaos_run(seconds=seconds, seed=options["seed"], say=self.stdout.write)
        except (ServerFailed, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        for finding in report.findings[:50]:
            self.stdout.write(finding)
        self.stdout.write(report.detail())
        self.stdout.write(report.line())
        if not report.ok:
            raise CommandError(f"chaos found faults: {report.line()}, 500s {report.server_errors}")
