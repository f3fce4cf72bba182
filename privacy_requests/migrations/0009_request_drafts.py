# Drafts hold exports too (issue 14: every request is previewed) and the preview's decisions.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_invitations"),
        ("projects", "0005_identity_link_provenance"),
        ("privacy_requests", "0008_subject_decisions"),
    ]

    operations = [
        migrations.RenameModel(old_name="DeletionDraft", new_name="RequestDraft"),
        migrations.AddField(
            model_name="requestdraft",
            name="kind",
            field=models.CharField(
                choices=[("export", "Export"), ("deletion", "Deletion")],
                default="deletion",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="requestdraft",
            name="disclosure",
            field=models.CharField(
                blank=True,
                choices=[("Data", "Data"), ("Categories", "Categories"), ("Sources", "Sources")],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="requestdraft",
            name="left_out",
            field=models.JSONField(default=list),
        ),
        migrations.AddField(
            model_name="requestdraft",
            name="included",
            field=models.JSONField(default=list),
        ),
    ]
