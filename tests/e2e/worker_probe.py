"""A job for tests/e2e/test_worker_preload.py: what a work-horse finds loaded when it starts."""

import sys

from django.urls import get_resolver


def urlconf_loaded() -> bool:
    # Imported, and its names resolved (reverse() would otherwise do both on first use).
    return "config.urls" in sys.modules and get_resolver()._populated
