"""A secret shown once across a post/redirect/get (issue 17, item 2).

The POST that makes a secret keeps it in the session and redirects; the GET that follows takes
it out as it renders it. A reload finds nothing and says so, instead of answering the POST again
(which rotated the secret the person had just copied). The clear secret lives in the session
store only between the redirect and the page that shows it."""

from django.http import HttpRequest

SESSION_PREFIX = "shown-once:"


def secret_keep_for_display(request: HttpRequest, *, name: str, secret: str) -> None:
    request.session[SESSION_PREFIX + name] = secret


def secret_take_for_display(request: HttpRequest, *, name: str) -> str | None:
    """The secret kept under name, removed from the session: None once it was shown."""
    return request.session.pop(SESSION_PREFIX + name, None)
