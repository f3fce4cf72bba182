from django.core.management.base import CommandError, CommandParser

from benchmarks.errors import BenchRefused
from benchmarks.privacy import bench_dataset, bench_require_postgresql_and_redis, bench_subjects
from benchmarks.privacy_deletion import TARGET as DELETION_TARGET
from benchmarks.privacy_deletion import deletion_measure
from benchmarks.privacy_export import TARGET as EXPORT_TARGET
from benchmarks.privacy_export import export_measure, export_warm_up
from benchmarks.privacy_run import PrivacyBench, summary_line
from config.commands import OperatorCommand, bounded_int_arg
from privacy_requests.errors import PrivacyRequestError


class Command(OperatorCommand):
    help = (
        "PostgreSQL and Redis only. Builds (or reuses) a store of M events with generate_events, "
        "then submits privacy requests for S users through the GDPR API of a real gunicorn, "
        "served by a real rqworker, polls them to SUCCESS as a client would, and prints that "
        "time and the job's own next to raw SQL of the same rows measured in the same run."
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
            "--repeat",
            type=bounded_int_arg(low=1, high=20),
            default=3,
            metavar="R",
            help="Exports and deletions measured (each deletion on other users); the summary "
            "gives medians.",
        )
        parser.add_argument(
            "--poll-ms",
            type=bounded_int_arg(low=10, high=5000),
            default=100,
            metavar="MS",
            help="The client's polling interval (the API allows 10 reads a second).",
        )
        parser.add_argument(
            "--seed",
            type=bounded_int_arg(low=0, high=2**31 - 1),
            default=1,
            help="Seed of the dataset and of the choice of users.",
        )

    def handle(self, *args, **options) -> None:
        events, seed, repeat = options["events"], options["seed"], options["repeat"]
        users = options["users"] or max(options["subjects"], events // 25)
        say = self.stdout.write
        try:
            bench_require_postgresql_and_redis()
            dataset = bench_dataset(events=events, users=users, seed=seed, say=say)
            exported = bench_subjects(dataset.project, count=options["subjects"], seed=seed)
            with PrivacyBench(
                dataset=dataset, poll_interval=options["poll_ms"] / 1000, say=say
            ) as bench:
                warm = export_warm_up(bench, exported)
                say(f"Read the export's rows once to warm the caches ({warm:.2f} s).")
                exports = []
                for run in range(repeat):
                    exports.append(export_measure(bench, exported, label=f"{run + 1}/{repeat}"))
                    for line in exports[-1].lines:
                        say(line)
                # Deletions delete, so they run last, each on other users than the export's.
                deletions = []
                for run in range(repeat):
                    doomed = bench_subjects(
                        dataset.project, count=options["subjects"], seed=seed + 1 + run
                    )
                    deletions.append(deletion_measure(bench, doomed, label=f"{run + 1}/{repeat}"))
                    for line in deletions[-1].lines:
                        say(line)
                idle_rss = bench.worker_idle_rss_kb
        except (BenchRefused, PrivacyRequestError) as exc:
            raise CommandError(str(exc)) from exc
        peak = max(run.horse_peak_rss_kb for run in exports + deletions)
        say(f"Summary, medians of {repeat} runs, a store of {events:,} events:")
        say(summary_line("export", exports, EXPORT_TARGET))
        say(summary_line("deletion", deletions, DELETION_TARGET))
        say(
            f"  worker memory: work-horse peak RSS {peak / 1024:.0f} MiB (target < 200 MiB); "
            f"idle rqworker {idle_rss / 1024:.0f} MiB"
        )
