import secrets

from django.db import models


def project_token_generate() -> str:
    # Public, like a Mixpanel project token: 32 hex characters naming the project.
    return secrets.token_hex(16)


class Project(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    token = models.CharField(max_length=64, unique=True, default=project_token_generate)
    api_secret_hash = models.CharField(max_length=64)
    api_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    suppress_deleted_ids = models.BooleanField(
        default=False,
        help_text="Drop later ingestion of distinct_ids removed by a deletion request.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"],
                                    name="project_unique_name_per_organization"),
        ]

    def __str__(self) -> str:
        return self.name
