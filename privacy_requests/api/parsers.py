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
            data = json.loads(body.decode("utf-8"))
            # JSON's \ud800-style escapes can spell lone surrogates, which are not text: no
            # database (nor UTF-8) stores them. Refuse them here, not at the first write.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParseError(
                "The request body must be text: it holds an unpaired surrogate escape "
                "(\\ud800 to \\udfff)."
            ) from exc
        except (ValueError, RecursionError) as exc:
            # RecursionError: thousands of nested brackets, which no valid body has.
            raise ParseError("The request body must be a JSON object.") from exc
        return data
