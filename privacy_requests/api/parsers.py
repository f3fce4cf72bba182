"""Mixpanel's own curl example sends JSON without a Content-Type, so curl labels it form data:
the body is read as JSON whatever its declared type."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from privacy_requests.api.errors import PayloadTooLarge

MAX_BODY_BYTES = 2 * 1024 * 1024  # 2,000 ids of 255 characters fit four times over


class AnyContentTypeJSONParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {}
        body = stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        if not body.strip():
            return {}
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError("The request body must be a JSON object.") from exc
