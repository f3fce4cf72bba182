import time

from django.core.management.base import BaseCommand, CommandError

from privacy_requests.services import privacy_sweep


class Command(BaseCommand):
    help = (
        "Re-enqueues lost, due and orphaned privacy requests, pseudonymizes old subjects, "
        "removes events past their project's retention and writes the day's audit checkpoint "
        "(DESIGN sections 3 and 4). Runs once, or every N seconds with --every."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Repeat every SECONDS until interrupted.",
        )

    def handle(self, *args, every: int, **options):
        if every < 0:
            raise CommandError("--every must be a positive number of seconds.")
        while True:
            self.stdout.write(f"Sweep: {privacy_sweep().as_text()}")
            if not every:
                return
            time.sleep(every)
