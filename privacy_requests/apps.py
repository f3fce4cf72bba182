from django.apps import AppConfig


class PrivacyRequestsConfig(AppConfig):
    name = "privacy_requests"
    verbose_name = "Privacy requests"

    def ready(self) -> None:
        # Imported here, not at the top: apps.py is imported before models are ready.
        from accounts.membership_changes import membership_recorder_install
        from privacy_requests.services.memberships import membership_change_audit
        from privacy_requests.services.project_deletions import project_deletion_audit
        from projects.deletion_record import project_deletion_recorder_install

        # accounts records membership changes through this, in the organization's audit chain;
        # projects a project's deletion.
        membership_recorder_install(membership_change_audit)
        project_deletion_recorder_install(project_deletion_audit)
