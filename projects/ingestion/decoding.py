"""From an HTTP request to a list of records, in every encoding Mixpanel's clients use.

The body is read from the request stream here, never through `request.body` or `request.POST`:
those enforce Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (a 400), while ingestion's limit is 10 MB
uncompressed (a 413). Gzip is decompressed as a stream and abandoned as soon as its output
passes the limit, so a small bomb never becomes a large buffer.
"""

import base64
import codecs
import json
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest

from projects.ingestion import limits

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
NDJSON_CONTENT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl"}
)
_GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK = 64 * 1024
_MAX_FORM_FIELDS = 100
_JSON_WHITESPACE = " \t\n\r"


class PayloadError(Exception):
    """The request as a whole cannot be read; `message` is shown to the client."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, params: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.params = params or {}


class PayloadTooLarge(PayloadError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedEncoding(PayloadError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """An NDJSON line that is not JSON; it fails as a record, the others go on."""

    line: int


@dataclass
class Payload:
    records: list[Any]
    # Flags (verbose, strict, ip, img, callback, project_id…) from the query and the form.
    params: dict[str, str] = field(default_factory=dict)
    # The records came in a `data` field (form or query), as the SDKs send them.
    from_data_field: bool = False


def payload_read(request: HttpRequest, *, ndjson_allowed: bool) -> Payload:
    params = {key: request.GET.get(key, "") for key in request.GET}
    body = _body_read(request)
    if body.startswith(codecs.BOM_UTF8):
        # Files saved by some Windows tools start with one; RFC 8259 lets a parser ignore it.
        body = body[len(codecs.BOM_UTF8) :]
    if body and request.content_type.lower() == "multipart/form-data":
        raise UnsupportedEncoding(
            "multipart bodies are not accepted: send 'data' form-urlencoded, or a JSON body",
            params=params,
        )
    if body.lstrip()[:1] in (b"[", b"{"):
        ndjson = ndjson_allowed and request.content_type.lower() in NDJSON_CONTENT_TYPES
        records = _json_body_parse(body, ndjson=ndjson, ndjson_allowed=ndjson_allowed)
        return Payload(records=records, params=params)
    if body.strip():
        try:
            text = body.decode("utf-8")
            form = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise PayloadError("the body is neither JSON nor a UTF-8 form", params=params) from exc
        params.pop("data", None)
        data = None
        for key, value in form:
            if key == "data":
                data = value
            else:
                params[key] = value
        if data is None:
            data = request.GET.get("data")
    else:
        data = request.GET.get("data")
    if not data:
        raise PayloadError(
            "no data: send the records as the 'data' form or query parameter, or as a JSON body",
            params=params,
        )
    params.pop("data", None)
    try:
        records = _data_field_parse(data)
    except PayloadError as exc:
        exc.params = params
        raise
    return Payload(records=records, params=params, from_data_field=True)


def _body_read(request: HttpRequest) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise PayloadError("invalid Content-Length") from exc
    if declared > limits.MAX_BODY_BYTES:
        raise _too_large_bytes()
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding[:20]!r} is not supported; use gzip")
    first = request.read(_READ_CHUNK)
    if encoding in ("gzip", "x-gzip") or first.startswith(_GZIP_MAGIC):
        return _gzip_read(first, request)
    chunks = [first]
    received = len(first)
    while chunk := request.read(_READ_CHUNK):
        received += len(chunk)
        if received > limits.MAX_BODY_BYTES:
            raise _too_large_bytes()
        chunks.append(chunk)
    return b"".join(chunks)


def _gzip_read(first: bytes, request: HttpRequest) -> bytes:
    output = bytearray()
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    chunk = first
    try:
        while chunk:
            while chunk:
                output += decompressor.decompress(chunk, limits.MAX_BODY_BYTES + 1 - len(output))
                if len(output) > limits.MAX_BODY_BYTES:
                    raise _too_large_bytes()
                chunk = decompressor.unconsumed_tail
                if decompressor.eof:
                    # Concatenated gzip members (as `cat a.gz b.gz` makes) continue the body.
                    chunk = decompressor.unused_data
                    if not chunk:
                        break
                    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
            chunk = request.read(_READ_CHUNK)
    except zlib.error as exc:
        raise PayloadError("the body is not valid gzip") from exc
    if not decompressor.eof:
        raise PayloadError("the gzip body is truncated")
    return bytes(output)


def _too_large_bytes() -> PayloadTooLarge:
    return PayloadTooLarge(f"request exceeds max limit of {limits.MAX_BODY_BYTES} bytes")


def _too_many_records() -> PayloadTooLarge:
    return PayloadTooLarge(f"request exceeds max limit of {limits.MAX_RECORDS} records")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class _TextAfterDocument(PayloadError):
    pass


def _json_body_parse(body: bytes, *, ndjson: bool, ndjson_allowed: bool) -> list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("the body is not UTF-8") from exc
    if ndjson:
        return _ndjson_parse(text)
    try:
        return _json_text_parse(text, what="the body")
    except _TextAfterDocument:
        # NDJSON labelled application/json (or with no type): one document, then another.
        if ndjson_allowed:
            return _ndjson_parse(text)
        raise


def _data_field_parse(data: str) -> list[Any]:
    stripped = data.strip()
    if stripped[:1] in ("[", "{"):
        return _json_text_parse(stripped, what="'data'")
    # Padded base64 as Mixpanel documents it; also unpadded, URL-safe, and with the '+' that an
    # unescaped query string turns into a space.
    candidate = stripped.replace(" ", "+").replace("-", "+").replace("_", "/")
    candidate += "=" * (-len(candidate) % 4)
    try:
        decoded = base64.b64decode(candidate, validate=True).decode("utf-8")
    except ValueError as exc:  # not base64 (binascii.Error), non-ASCII text, or not UTF-8
        raise PayloadError("'data' is neither JSON nor base64-encoded JSON") from exc
    return _json_text_parse(decoded, what="'data'")


def _json_text_parse(text: str, *, what: str) -> list[Any]:
    """One JSON object, or an array of records read element by element, so that an array
    longer than the record limit is refused without building it."""
    position = _skip_whitespace(text, 0)
    try:
        if text.startswith("[", position):
            records = []
            position = _skip_whitespace(text, position + 1)
            if text.startswith("]", position):
                position += 1
            else:
                while True:
                    if len(records) == limits.MAX_RECORDS:
                        raise _too_many_records()
                    record, position = _DECODER.raw_decode(text, position)
                    records.append(record)
                    position = _skip_whitespace(text, position)
                    if text.startswith(",", position):
                        position = _skip_whitespace(text, position + 1)
                    elif text.startswith("]", position):
                        position += 1
                        break
                    else:
                        raise ValueError("expected ',' or ']'")
        else:
            record, position = _DECODER.raw_decode(text, position)
            records = [record]
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"{what} is not valid JSON") from exc
    if _skip_whitespace(text, position) != len(text):
        raise _TextAfterDocument(f"{what} is not valid JSON: unexpected text after the end")
    return records


def _ndjson_parse(text: str) -> list[Any]:
    lines = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if len(lines) > limits.MAX_RECORDS:
        raise _too_many_records()
    records: list[Any] = []
    for number, line in lines:
        try:
            records.append(_DECODER.decode(line))
        except (ValueError, RecursionError):
            records.append(UnreadableLine(line=number))
    return records


def _skip_whitespace(text: str, position: int) -> int:
    length = len(text)
    while position < length and text[position] in _JSON_WHITESPACE:
        position += 1
    return position
