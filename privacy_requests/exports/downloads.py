"""Signed download links for result files: export packages and deletion receipts.

The link is our own URL, `/downloads/<tracking_id>/<signature>/`, signed with Django's
TimestampSigner over the tracking_id and the file's version (a hash of its storage name), the
signature in the path. It is a bearer link: whoever holds it may GET it, with no other
credential, until it expires (PRIVACY_EXPORT_TTL), which is what API clients need. Every
download re-checks the request and its file and is audited.

An export's link is signed as of the moment its file was made, so it is the same link each time
it is shown and expires with the file. A receipt is kept, so its link is signed when shown.
"""

import hashlib
import logging
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from privacy_requests.audit import audit_append
from privacy_requests.exports.files import EXPIRED, STORAGE_ERRORS, private_storage
from privacy_requests.models import (
    AuditAction,
    PrivacyRequest,
    RequestKind,
    Status,
    tracking_id_can_exist,
)

logger = logging.getLogger(__name__)

SIGNING_SALT = "privacy_requests.download"
# "." is outside the signature's alphabet, and reads better in a path than ":".
SIGNING_SEPARATOR = "."
LINK_ACTOR = "link"
# How long a presigned S3 URL we redirect to stays valid.
PRESIGNED_SECONDS = 60
CONTENT_TYPES = {RequestKind.EXPORT: "application/zip", RequestKind.DELETION: "application/json"}
EXTENSIONS = {RequestKind.EXPORT: "zip", RequestKind.DELETION: "json"}
# All a link holder learns of a file that is gone: why and when (a deletion of the same end user,
# its tracking id) are for the owners' pages (result_unavailable_reason), not for whoever holds
# a forwarded or leaked link.
LINK_GONE = "This link has expired, or the file is no longer available."


class _Signer(signing.TimestampSigner):
    """A TimestampSigner whose timestamp can be a given moment rather than now."""

    def __init__(self, *, issued_at: datetime | None = None):
        super().__init__(salt=SIGNING_SALT, sep=SIGNING_SEPARATOR)
        self._issued_at = issued_at

    def timestamp(self) -> str:
        if self._issued_at is None:
            return super().timestamp()
        return signing.b62_encode(int(self._issued_at.timestamp()))


def file_version(result_file: str) -> str:
    return hashlib.sha256(result_file.encode()).hexdigest()[:16]


def _signed_value(request: PrivacyRequest, number: int | None = None) -> str:
    """What a link signs: the tracking id and the file's version, and for a subject's package
    (issue 17) its number too."""
    if number is None:
        return f"{request.tracking_id}{SIGNING_SEPARATOR}{file_version(request.result_file)}"
    version = file_version(_subject_file(request, number))
    return f"{request.tracking_id}{SIGNING_SEPARATOR}{number}{SIGNING_SEPARATOR}{version}"


def _subject_file(request: PrivacyRequest, number: int) -> str:
    packages = request.result_packages or []
    if request.kind != RequestKind.EXPORT or not 0 <= number < len(packages):
        return ""
    if packages[number].get("bytes") is None:  # planned, not stored yet (subject_build)
        return ""
    return str(packages[number].get("file", ""))


def _ttl() -> timedelta:
    return timedelta(seconds=settings.PRIVACY_EXPORT_TTL)


def result_unavailable_reason(request: PrivacyRequest, *, now: datetime | None = None) -> str:
    """Why the request's file cannot be downloaded now, in detail for the owners' pages; ""
    when it can."""
    now = now or timezone.now()
    if request.status != Status.SUCCESS or not request.result_file:
        return "There is no file for this request."
    if request.result_purged_at is not None:
        when = request.result_purged_at.strftime("%Y-%m-%d %H:%M UTC")
        if request.result_purge_reason == EXPIRED:
            return f"This file expired and was deleted on {when}."
        return f"This file was deleted on {when}: {request.result_purge_reason}."
    if (
        request.kind == RequestKind.EXPORT
        and request.result_expires_at is not None
        and request.result_expires_at <= now
    ):
        return "This file has expired."
    return ""


def export_download_url(
    request: PrivacyRequest, *, absolute_base: str | None = None, number: int | None = None
) -> str:
    """The signed link to the request's file (or, with `number`, to that subject's package),
    absolute when `absolute_base` (scheme and host, e.g. "https://privacy.example.com") is
    given; "" when there is nothing to download."""
    if result_unavailable_reason(request):
        return ""
    if number is not None and not _subject_file(request, number):
        return ""
    issued_at = None
    if request.kind == RequestKind.EXPORT and request.result_expires_at is not None:
        issued_at = request.result_expires_at - _ttl()
    value = _signed_value(request, number)
    signed = _Signer(issued_at=issued_at).sign(value)
    kwargs = {"tracking_id": request.tracking_id, "signature": signed[len(value) + 1 :]}
    if number is None:
        path = reverse("privacy_download", kwargs=kwargs)
    else:
        path = reverse("privacy_subject_download", kwargs={**kwargs, "number": number + 1})
    return f"{absolute_base.rstrip('/')}{path}" if absolute_base else path


def _gone(http_request: HttpRequest) -> HttpResponse:
    # A page in the site's layout that says what to do next (issue 17, item 5), and no more
    # about the file than LINK_GONE.
    response = render(http_request, "410.html", {"reason": LINK_GONE}, status=HTTPStatus.GONE)
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def result_download(http_request: HttpRequest, tracking_id: str, signature: str):
    """GET of a signed link: no session or token needed. Tampered links are 404; an expired
    link, or one to a file purged or expired since, is 410 Gone."""
    return _download(http_request, tracking_id, signature, number=None)


@require_GET
def subject_download(http_request: HttpRequest, tracking_id: str, number: int, signature: str):
    """GET of the signed link to one subject's package (`number` from 1), as result_download."""
    return _download(http_request, tracking_id, signature, number=number - 1)


def _download(http_request: HttpRequest, tracking_id: str, signature: str, *, number: int | None):
    request = None
    if tracking_id_can_exist(tracking_id):
        request = PrivacyRequest.objects.filter(tracking_id=tracking_id).first()
    if request is None or (number is not None and not _subject_file(request, number)):
        raise Http404
    try:
        _Signer().unsign(
            f"{_signed_value(request, number)}{SIGNING_SEPARATOR}{signature}", max_age=_ttl()
        )
    except signing.SignatureExpired:
        # Checked after the signature: only a genuine link's holder learns that it expired.
        return _gone(http_request)
    except signing.BadSignature as exc:
        raise Http404 from exc
    if result_unavailable_reason(request):
        return _gone(http_request)

    kind = RequestKind(request.kind)
    filename = f"{request.tracking_id}.{EXTENSIONS[kind]}"
    stored = request.result_file
    if number is not None:
        filename = f"{request.tracking_id}-subject-{number + 1}.zip"
        stored = _subject_file(request, number)
    try:
        response = _file_response(stored, filename=filename, content_type=CONTENT_TYPES[kind])
    except FileNotFoundError:
        logger.error("The file of %s is missing from private storage.", tracking_id)
        return _gone(http_request)
    except STORAGE_ERRORS:
        logger.exception("Private storage failed to serve the file of %s.", tracking_id)
        response = HttpResponse(
            "The file cannot be read right now; try again in a moment.\n",
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "30"
        return _private(response)
    try:
        audit_append(
            organization_id=request.organization_id,
            actor=LINK_ACTOR,
            action=AuditAction.DOWNLOADED,
            request=request,
            detail={
                "file_version": file_version(stored),
                "redirected": isinstance(response, HttpResponseRedirect),
                **({"subject": number + 1} if number is not None else {}),
            },
        )
    except BaseException:
        response.close()  # an unaudited download is not served
        raise
    return _private(response)


def _file_response(stored: str, *, filename: str, content_type: str):
    """A redirect to a short-lived presigned URL when the storage is S3; else the file itself,
    streamed."""
    storage = private_storage()
    if _is_s3(storage):
        s3: Any = storage  # django-storages' S3Storage.url takes expire and parameters
        return HttpResponseRedirect(
            s3.url(
                stored,
                expire=PRESIGNED_SECONDS,
                parameters={
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                    "ResponseContentType": content_type,
                    "ResponseCacheControl": "no-store",
                },
            )
        )
    return FileResponse(
        storage.open(stored, "rb"),
        as_attachment=True,
        filename=filename,
        content_type=content_type,
    )


def _is_s3(storage) -> bool:
    # By name, not by import: importing django-storages' S3 backend without boto3 installed
    # (local disk needs no S3 extra) raises ImproperlyConfigured.
    return any(cls.__module__ == "storages.backends.s3" for cls in type(storage).__mro__)
