"""The back office's pages for privacy requests, their audit trail and the end users' data
(DESIGN sections 1, 4 and 9). Importing this package registers them on the admin site."""

from privacy_requests.admin import audit, callbacks, end_user_data, requests, workers

__all__ = ["audit", "callbacks", "end_user_data", "requests", "workers"]
