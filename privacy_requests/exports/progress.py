"""An export's progress as it saves it (checkpoints renew the lease and show how far it got),
and the checkpoints taken while a chunk's events stream in."""

import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections

from privacy_requests.engine.run import Run
from privacy_requests.exports.package import EntryWriter

PHASE = "export"
# Events written between two checkpoints within one chunk of subjects.
CHECKPOINT_ROWS = 20_000


class Progress:
    def __init__(self, run: Run, *, file: str):
        self.run = run
        self.file = file
        self.total = len(run.subject_ids)
        self.rows = 0
        self._saved_at: float | None = None

    def save(self, *, step: str, done: int, force: bool = False) -> None:
        """Saves progress and renews the lease, at most every PRIVACY_PROGRESS_INTERVAL
        seconds unless `force`d: the page polls once a second and the lease lasts a minute,
        while a small export would spend a tenth of its time on a save a chunk and file. (The
        crash tests' pause after each step makes every step a save.)"""
        now = time.monotonic()
        if (
            not force
            and not settings.PRIVACY_STEP_DELAY_SECONDS
            and self._saved_at is not None
            and now - self._saved_at < settings.PRIVACY_PROGRESS_INTERVAL
        ):
            return
        self.run.checkpoint(self.as_saved(step=step, done=done))
        self._saved_at = time.monotonic()

    def as_saved(self, *, step: str, done: int) -> dict:
        return {
            "phase": PHASE,
            "step": step,
            "done": done,
            "total": self.total,
            "rows": self.rows,
            "file": self.file,
        }


class Checkpoints:
    """The checkpoints taken while a chunk's events stream in. On PostgreSQL the connection is
    busy with the COPY that streams them, so they run on a thread of their own, with its own
    connection, one at a time; an error (LeaseLost) is raised at the next one or at `wait`.
    Elsewhere they run here, between two fetches, as any checkpoint."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self._pool = (
            ThreadPoolExecutor(max_workers=1) if connection.vendor == "postgresql" else None
        )
        self._pending: Future | None = None

    def __enter__(self) -> "Checkpoints":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is None:
            return
        try:
            self.wait()
        finally:
            self._pool.submit(connections.close_all).result()  # the thread's own connection
            self._pool.shutdown()

    def save(self, *, step: str, done: int) -> None:
        if self._pool is None:
            self.progress.save(step=step, done=done)
            return
        self.wait()
        saved = self.progress.as_saved(step=step, done=done)
        self._pending = self._pool.submit(self.progress.run.checkpoint, saved)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


class LineSink:
    """Where a chunk's event lines go, one `write` a line: into the package, counted, with a
    checkpoint every CHECKPOINT_ROWS lines."""

    def __init__(
        self, *, out: EntryWriter, progress: Progress, checkpoints: Checkpoints, done: int
    ):
        self.out = out
        self.progress = progress
        self.checkpoints = checkpoints
        self.done = done

    def write(self, line: bytes) -> None:
        self.out.write_bytes(line)
        self.progress.rows += 1
        if self.progress.rows % CHECKPOINT_ROWS == 0:
            self.checkpoints.save(step="events", done=self.done)
