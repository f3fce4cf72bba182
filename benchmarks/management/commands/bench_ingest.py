from django.core.management.base import CommandError, CommandParser

from benchmarks.errors import BenchRefused
from benchmarks.ingest import ingest_bench_run
from config.commands import OperatorCommand, bounded_int_arg
from projects.errors import ProjectsError


class Command(OperatorCommand):
    help = (
        "PostgreSQL only. Starts gunicorn on a free local port, drives POST /import over HTTP "
        "from a separate client process in batches, then COPYs the same rows into the same "
        "table; prints both rates and their ratio. Uses the organization 'Ingestion benchmark' "
        "(created if needed) and deletes the run's rows at the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events", type=bounded_int_arg(low=1, high=100_000_000), default=200_000, metavar="M"
        )
        parser.add_argument(
            "--batch",
            type=bounded_int_arg(low=1, high=2000),
            default=2000,
            metavar="B",
            help="Events per request (at most 2,000, Mixpanel's limit).",
        )
        parser.add_argument(
            "--workers", type=bounded_int_arg(low=1, high=64), default=2, help="gunicorn workers."
        )
        parser.add_argument(
            "--connections",
            type=bounded_int_arg(low=1, high=64),
            default=4,
            help="Concurrent keep-alive connections of the client.",
        )
        parser.add_argument(
            "--keep-data", action="store_true", help="Keep the run's events in the bench projects."
        )

    def handle(self, *args, **options) -> None:
        try:
            result = ingest_bench_run(
                events=options["events"],
                batch=options["batch"],
                workers=options["workers"],
                connections=options["connections"],
                keep_data=options["keep_data"],
                say=self.stdout.write,
            )
        except (BenchRefused, ProjectsError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"/import through gunicorn: {result.import_rate:,.0f} events/s; "
            f"raw COPY: {result.copy_rate:,.0f} events/s; "
            f"ratio {result.ratio:.2f} ({result.ratio:.0%} of COPY)."
        )
