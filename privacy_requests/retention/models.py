from django.db import models
from django.db.models import Q


class RetentionRun(models.Model):
    """One pass of a project's event retention over its distinct_ids for one cutoff: events
    before `cutoff` are removed. It spans as many sweeps as it needs (each sweep gives it a
    few seconds) and resumes after a crash from `resume_after`."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    keep_events_months = models.PositiveSmallIntegerField()
    cutoff = models.DateTimeField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The setting was turned off or lengthened before the run finished: it stopped there.
    stopped = models.BooleanField(default=False)
    events_removed = models.BigIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    # The keyset position: every distinct_id up to this one is done ("" before the first). An
    # end user's id, so it is kept only while the run lasts and emptied when it finishes.
    resume_after = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(finished_at__isnull=True),
                name="retention_one_open_run_per_project",
            ),
        ]
        indexes = [models.Index(fields=["project", "-started_at"], name="retention_run_latest")]

    def __str__(self) -> str:
        return f"retention of project {self.project_id} before {self.cutoff:%Y-%m-%d}"
