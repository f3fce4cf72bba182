from django.core.management.base import CommandError, CommandParser

from benchmarks.errors import BenchRefused
from benchmarks.privacy import bench_dataset, bench_require_postgresql_and_redis, bench_subjects
from benchmarks.privacy_deletion import run as deletion_bench_run
from benchmarks.privacy_export import export_bench_run
from config.commands import OperatorCommand, bounded_int_arg
from privacy_requests.errors import PrivacyRequestError


class Command(OperatorCommand):
    help = (
        "PostgreSQL and Redis only. Builds (or reuses) a store of M events with generate_events, "
        "then runs privacy requests for S users through a real rqworker and prints their "
        "figures next to raw PostgreSQL baselines measured in the same run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events",
            type=bounded_int_arg(low=1, high=100_000_000),
            default=5_000_000,
            metavar="M",
            help="Events in the store.",
        )
        parser.add_argument(
            "--subjects",
            type=bounded_int_arg(low=1, high=2000),
            default=2000,
            metavar="S",
            help="Users the requests name (at most 2,000).",
        )
        parser.add_argument(
            "--users",
            type=bounded_int_arg(low=1, high=10_000_000),
            metavar="N",
            help="Users in the store (default M / 25, so that 2,000 users hold about 1%% of "
            "the events). Fewer users make each request bigger.",
        )
        parser.add_argument(
            "--seed",
            type=bounded_int_arg(low=0, high=2**31 - 1),
            default=1,
            help="Seed of the dataset and of the choice of users.",
        )

    def handle(self, *args, **options) -> None:
        events, seed = options["events"], options["seed"]
        users = options["users"] or max(options["subjects"], events // 25)
        try:
            bench_require_postgresql_and_redis()
            dataset = bench_dataset(events=events, users=users, seed=seed, say=self.stdout.write)
            subjects = bench_subjects(dataset.project, count=options["subjects"], seed=seed)
            export = export_bench_run(dataset=dataset, given=subjects, say=self.stdout.write)
            for line in export.lines():
                self.stdout.write(line)
            # It deletes, so it runs last, on other users than the export's.
            doomed = bench_subjects(dataset.project, count=options["subjects"], seed=seed + 1)
            deletion_bench_run(project=dataset.project, subjects=doomed, stdout=self.stdout)
        except (BenchRefused, PrivacyRequestError) as exc:
            raise CommandError(str(exc)) from exc
