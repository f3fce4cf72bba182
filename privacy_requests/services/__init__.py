"""Writes of privacy requests; every interface (web, API, admin, commands, jobs) calls these."""

from privacy_requests.services.lifecycle import (
    privacy_request_cancel,
    privacy_request_expedite,
    privacy_request_extend,
    privacy_request_retry,
)
from privacy_requests.services.processing import privacy_request_process
from privacy_requests.services.queueing import privacy_request_enqueue
from privacy_requests.services.submission import privacy_request_submit
from privacy_requests.services.sweep import privacy_sweep

__all__ = [
    "privacy_request_cancel",
    "privacy_request_enqueue",
    "privacy_request_expedite",
    "privacy_request_extend",
    "privacy_request_process",
    "privacy_request_retry",
    "privacy_request_submit",
    "privacy_sweep",
]
