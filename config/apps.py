from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds the project-wide management commands (the local run command)."""

    name = "config"
    verbose_name = "Configuration"
