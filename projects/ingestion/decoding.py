"""From an HTTP request to a list of records, in every encoding Mixpanel's clients use.

The body is read from the request stream here, never through `request.body` or `request.POST`:
those enforce Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` (a 400), while ingestion's limit is 10 MB
uncompressed (a 413). Gzip is decompressed as a stream and abandoned as soon as its output
passes the limit, so a small bomb never becomes a large buffer.

Parsing also notes what the JSON text shows of each record's encoding (`Payload.encodable`), so
that validation does not serialize every record a second time only to learn that it holds no
NUL, no lone surrogate, no infinite number, and fits the size limit: on a batch of 2,000
events that second serialization was a fifth of the request's time.
"""

import base64
import codecs
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import orjson
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
# The escapes that decode to a NUL or to a surrogate (paired or lone: a pair is harmless, but
# telling them apart is left to the record's full check). Strict UTF-8 decoding and JSON's
# ban on raw control characters in strings leave no other way for either into a record.
_NUL_ESCAPE = "\\u0000"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Compact JSON of a parsed record is at most this many UTF-8 bytes per character of the JSON
# text it came from: strings, keys and integers never grow (escapes only shrink, whitespace
# goes, a character keeps its UTF-8 size), and a float grows at most 4.5 times, from 1e15 to
# 1000000000000000.0 (the longest repr of the shortest literals).
_MAX_GROWTH = 5
# orjson reads an integer past 64 bits as a float: a text where a number of 19 digits or more
# may stand takes the standard parser, which keeps every integer exact. Found as runs of zeros
# in the text's bytes with every digit made a zero (bytes.translate and find run at memory
# speed; a regular expression took longer than parsing).
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_BEFORE_NUMBER = frozenset(b":,[")
_JSON_WHITESPACE_BYTES = frozenset(b" \t\n\r")
# The standard library's compact JSON of a record against orjson's: the same but for a float's
# exponent, which it writes with two digits at least: 1e-07 against 1e-7, at most 5 characters
# for 4. Records past the limit by that bound get the full check, which decides.
_FAST_GROWTH = 1.25


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
    # Per record: its JSON text shows that its compact JSON is at most MAX_RECORD_BYTES and
    # holds no NUL, lone surrogate or infinite number (validation's encoding check). Empty when
    # the body's text does not show it; then every record is checked in full.
    encodable: list[bool] = field(default_factory=list)


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
        parsed = _json_body_parse(body, ndjson=ndjson, ndjson_allowed=ndjson_allowed)
        return Payload(records=parsed.records, params=params, encodable=parsed.encodable())
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
        parsed = _data_field_parse(data)
    except PayloadError as exc:
        exc.params = params
        raise
    return Payload(
        records=parsed.records,
        params=params,
        from_data_field=True,
        encodable=parsed.encodable(),
    )


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


class _Parsed:
    """The records of one JSON text, and what the text shows of their encoding."""

    def __init__(self, text: str, *, growth: float = _MAX_GROWTH) -> None:
        self.text = text
        self.records: list[Any] = []
        # Each record's characters of JSON text, or the bytes of its compact JSON; either
        # times `growth` bounds its compact JSON's bytes.
        self.lengths: list[int] = []
        self.growth = growth
        self._infinite = False
        # One decoder a text, to note a number too large for a float (1e400) as it is parsed.
        self.decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=self._float)

    def _float(self, literal: str) -> float:
        value = float(literal)
        if math.isinf(value):
            self._infinite = True
        return value

    def add(self, record: Any, length: int) -> None:
        self.records.append(record)
        self.lengths.append(length)

    def encodable(self) -> list[bool]:
        if self._infinite or _NUL_ESCAPE in self.text or _SURROGATE_ESCAPE.search(self.text):
            return []
        return [length * self.growth <= limits.MAX_RECORD_BYTES for length in self.lengths]


class _TextAfterDocument(PayloadError):
    pass


def _json_body_parse(body: bytes, *, ndjson: bool, ndjson_allowed: bool) -> _Parsed:
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


def _data_field_parse(data: str) -> _Parsed:
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


def _json_text_parse(text: str, *, what: str) -> _Parsed:
    """One JSON object, or an array of records read element by element, so that an array
    longer than the record limit is refused without building it."""
    fast = _fast_parse(text)
    if fast is not None:
        return fast
    parsed = _Parsed(text)
    position = _skip_whitespace(text, 0)
    try:
        if text.startswith("[", position):
            position = _skip_whitespace(text, position + 1)
            if text.startswith("]", position):
                position += 1
            else:
                while True:
                    if len(parsed.records) == limits.MAX_RECORDS:
                        raise _too_many_records()
                    start = position
                    record, position = parsed.decoder.raw_decode(text, position)
                    parsed.add(record, position - start)
                    position = _skip_whitespace(text, position)
                    if text.startswith(",", position):
                        position = _skip_whitespace(text, position + 1)
                    elif text.startswith("]", position):
                        position += 1
                        break
                    else:
                        raise ValueError("expected ',' or ']'")
        else:
            start = position
            record, position = parsed.decoder.raw_decode(text, position)
            parsed.add(record, position - start)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"{what} is not valid JSON") from exc
    if _skip_whitespace(text, position) != len(text):
        raise _TextAfterDocument(f"{what} is not valid JSON: unexpected text after the end")
    return parsed


def _fast_parse(text: str) -> _Parsed | None:
    """The text read by orjson, 2-3 times faster than the standard library on a batch, when
    it reads it to the same values; None for anything else (not JSON, NaN or 1e400, lone
    surrogates, text after the document, integers past 64 bits), which the standard parser
    then reads or refuses with its own message. The whole document is built before the record
    limit applies: no larger than what one record of the same body could already build."""
    if _long_integer_may_stand(text):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if value.__class__ is list:
        if len(value) > limits.MAX_RECORDS:
            raise _too_many_records()
        records = value
    elif value.__class__ is dict:
        records = [value]
    else:
        return None
    parsed = _Parsed(text, growth=_FAST_GROWTH)
    parsed.records = records
    if len(text) * _MAX_GROWTH <= limits.MAX_RECORD_BYTES or (
        len(orjson.dumps(records)) * _FAST_GROWTH <= limits.MAX_RECORD_BYTES
    ):
        # No record of a text this short can pass the limit: none to measure one by one.
        parsed.lengths = [0] * len(records)
    else:
        parsed.lengths = [len(orjson.dumps(record)) for record in records]
    return parsed


def _ndjson_parse(text: str) -> _Parsed:
    lines = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if len(lines) > limits.MAX_RECORDS:
        raise _too_many_records()
    parsed = _Parsed(text)
    fast = not _long_integer_may_stand(text)
    for number, line in lines:
        try:
            parsed.add(_line_decode(parsed, line, fast=fast), len(line))
        except (ValueError, RecursionError):
            parsed.add(UnreadableLine(line=number), len(line))
    return parsed


def _long_integer_may_stand(text: str) -> bool:
    """Whether a run of 19 or more digits stands where a JSON number may start (after ':', ','
    or '[', a '-' and whitespace): an integer orjson would read as a float. A run inside a
    string after one of those characters answers True too, which only costs the slower parse;
    runs inside strings otherwise (hex ids) or after a decimal point answer False."""
    data = text.encode().translate(_DIGITS_AS_ZEROS)
    start = data.find(_LONG_RUN)
    while start != -1:
        before = start - 1
        while before >= 0 and data[before] == 0x30:  # the run's earlier digits
            before -= 1
        if before >= 0 and data[before] == 0x2D:  # '-'
            before -= 1
        while before >= 0 and data[before] in _JSON_WHITESPACE_BYTES:
            before -= 1
        if before >= 0 and data[before] in _BEFORE_NUMBER:
            return True
        end = start + len(_LONG_RUN)
        while end < len(data) and data[end] == 0x30:
            end += 1
        start = data.find(_LONG_RUN, end)
    return False


def _line_decode(parsed: _Parsed, line: str, *, fast: bool) -> Any:
    if fast:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass  # the standard parser reads it (1e400, a lone surrogate) or refuses it
    return parsed.decoder.decode(line)


def _skip_whitespace(text: str, position: int) -> int:
    length = len(text)
    while position < length and text[position] in _JSON_WHITESPACE:
        position += 1
    return position
