from django.core.management.base import CommandError, CommandParser

from benchmarks.errors import BenchRefused
from benchmarks.retention import retention_bench_run
from config.commands import OperatorCommand, bounded_int_arg
from projects.errors import ProjectsError


class Command(OperatorCommand):
    help = (
        "PostgreSQL only. Builds (or reuses) a project of M generated events over 25 months and "
        "two copies of them, today's table and one range-partitioned by month on time, then "
        "compares per-subject reads and deletes on both and the removal of one expired month "
        "(DROP PARTITION against the sweep's batched deletes). Prints medians and ratios."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events",
            type=bounded_int_arg(low=1000, high=100_000_000),
            default=3_000_000,
            metavar="M",
            help="Events in the bench project (default 3,000,000; users M / 25).",
        )
        parser.add_argument(
            "--samples",
            type=bounded_int_arg(low=3, high=10_000),
            default=200,
            metavar="S",
            help="Subject sets measured for each figure (default 200).",
        )
        parser.add_argument(
            "--chunk",
            type=bounded_int_arg(low=1, high=2000),
            default=500,
            metavar="C",
            help="Subjects in a chunk, as the export reads them (default 500).",
        )
        parser.add_argument(
            "--walk-ids",
            type=bounded_int_arg(low=1, high=100_000),
            default=2000,
            metavar="W",
            help="distinct_ids one retention batch walks (default 2,000).",
        )
        parser.add_argument(
            "--max-rows",
            type=bounded_int_arg(low=1, high=1_000_000),
            default=5000,
            metavar="R",
            help="Events one retention batch deletes at most (default 5,000).",
        )
        parser.add_argument(
            "--seed", type=bounded_int_arg(low=0, high=2**31 - 1), default=1, help="Dataset seed."
        )

    def handle(self, *args, **options) -> None:
        try:
            retention_bench_run(
                events=options["events"],
                samples=options["samples"],
                chunk=options["chunk"],
                walk_ids=options["walk_ids"],
                max_rows=options["max_rows"],
                seed=options["seed"],
                say=self.stdout.write,
            )
        except (BenchRefused, ProjectsError) as exc:
            raise CommandError(str(exc)) from exc
