"""Helpers shared by the ingestion tests: building records and posting them as SDKs do."""

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from projects.models import Event

# The API secret of every ProjectFactory project (tests/factories.py).
API_SECRET = "factory-secret"
FORM = "application/x-www-form-urlencoded"


def basic_auth(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def event(token: str | None, **properties: Any) -> dict:
    """An /import-ready event: name, time, distinct_id and $insert_id unless overridden;
    `...` leaves a field out."""
    name = properties.pop("event", "Signed up")
    values = {
        "time": int(time.time()) - 3600,
        "distinct_id": "alice",
        "$insert_id": "0123456789abcdef0123456789abcdef",
    }
    if token is not None:
        values["token"] = token
    values.update(properties)
    record = {"event": name, "properties": {k: v for k, v in values.items() if v is not ...}}
    if name is ...:
        del record["event"]
    return record


def post_data(client: Client, path: str, records: Any, **params: Any):
    """POST as the Python SDK does: form field `data` holding compact JSON."""
    body = urlencode({"data": json.dumps(records, separators=(",", ":")), **params})
    return client.post(path, body, content_type=FORM)


def post_json(client: Client, path: str, records: Any, *, query: str = "", **headers: Any):
    return client.post(
        path + query, json.dumps(records), content_type="application/json", headers=headers
    )


def post_import(client: Client, records: Any, *, query: str = "?strict=1", secret=API_SECRET):
    return post_json(client, "/import", records, query=query, authorization=basic_auth(secret))


def stored_events(project_id: int | None = None) -> list[tuple]:
    queryset = (
        Event.objects.all() if project_id is None else Event.objects.filter(project_id=project_id)
    )
    return list(
        queryset.order_by("distinct_id", "time", "name", "insert_id").values_list(
            "distinct_id", "name", "time", "insert_id", "properties"
        )
    )
