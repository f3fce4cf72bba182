"""Idempotency-Keys (issue 13): stored as a keyed hash with the hash of their request's body,
for 24 hours, per person or service account. Existing keys younger than 24 hours are converted
in place (their body hash rebuilt from the request they created); older ones are dropped, as
the sweep would drop them."""

import hashlib
import hmac
import json
from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

KEY_LIFETIME = timedelta(hours=24)


def _key_hash(key: str) -> str:
    # As privacy_requests.services.idempotency.idempotency_key_hash, frozen here.
    message = f"idempotency-key\x1f{key}".encode()
    return hmac.new(settings.PRIVACY_PII_KEY.encode(), message, hashlib.sha256).hexdigest()


def _body_hash(request, subject_model) -> str:
    # As privacy_requests.services.idempotency.request_body_hash, frozen here: the ids the
    # requester gave, in their order, are the subjects not found through a cluster.
    distinct_ids = list(
        subject_model.objects.filter(request=request, linked=False)
        .order_by("position")
        .values_list("distinct_id", flat=True)
    )
    canonical = json.dumps(
        {
            "kind": request.kind,
            "compliance": request.compliance,
            "disclosure": request.disclosure,
            "distinct_ids": distinct_ids,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def keys_to_hashes(apps, schema_editor):
    IdempotencyKey = apps.get_model("privacy_requests", "IdempotencyKey")
    RequestSubject = apps.get_model("privacy_requests", "RequestSubject")
    IdempotencyKey.objects.filter(created_at__lte=timezone.now() - KEY_LIFETIME).delete()
    for row in IdempotencyKey.objects.select_related("request").iterator(chunk_size=500):
        row.key_hash = _key_hash(row.key)
        row.body_hash = _body_hash(row.request, RequestSubject)
        row.key = ""
        row.save(update_fields=["key_hash", "body_hash", "key"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_service_accounts"),
        ("privacy_requests", "0006_audit_membership_changed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="idempotencykey",
            name="idempotency_key_unique",
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="key_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="body_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="created_at",
            field=models.DateTimeField(db_index=True),
        ),
        migrations.RunPython(keys_to_hashes, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="idempotencykey",
            name="key",
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="service_account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.serviceaccount",
            ),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("user__isnull", False)),
                fields=("user", "key_hash"),
                name="idempotency_key_unique_per_user",
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("service_account__isnull", False)),
                fields=("service_account", "key_hash"),
                name="idempotency_key_unique_per_service_account",
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("service_account__isnull", True), ("user__isnull", False)),
                    models.Q(("service_account__isnull", False), ("user__isnull", True)),
                    _connector="OR",
                ),
                name="idempotency_key_one_principal",
            ),
        ),
    ]
