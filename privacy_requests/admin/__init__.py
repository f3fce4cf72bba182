"""The back office's pages for privacy requests and their audit trail (DESIGN sections 1, 4
and 9). Importing this package registers them on the admin site."""

from privacy_requests.admin import audit, requests

__all__ = ["audit", "requests"]
