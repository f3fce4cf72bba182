"""A GDPR API client as a privacy platform runs one: create a request over HTTP, then poll its
status until it ends, on one keep-alive connection. It notes the wall-clock times it saw, so
that the bench can place them beside the times the server and the worker recorded."""

import http.client
import json
import time
from dataclasses import dataclass

from benchmarks.errors import BenchRefused

PATHS = {"export": "/api/app/data-retrievals/v3.0/", "deletion": "/api/app/data-deletions/v3.0/"}
FINAL = ("SUCCESS", "FAILURE")


@dataclass(frozen=True)
class ClientView:
    tracking_id: str
    status: str
    submitted_at: float  # time.time() as the create was sent
    answered_at: float  # ... as its answer arrived
    seen_at: float  # ... as the final status arrived
    polls: int
    throttled: int  # answers 429 (the client waits as Retry-After says)

    @property
    def seconds(self) -> float:
        return self.seen_at - self.submitted_at


class GdprApiClient:
    def __init__(self, *, port: int, gdpr_token: str, project_token: str, poll_interval: float):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {gdpr_token}", "Connection": "keep-alive"}
        self.query = f"?token={project_token}"
        self.poll_interval = poll_interval

    def close(self) -> None:
        self.connection.close()

    def _call(self, method: str, path: str, body: bytes | None = None):
        self.connection.request(method, path + self.query, body=body, headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        return response, answer, raw[:300].decode("utf-8", "replace")

    def warm_up(self, kind: str) -> None:
        """One read first: the connection opens and the server's worker connects to the
        database before anything is timed (an unknown task is a 404)."""
        self._call("GET", PATHS[kind] + "warm-up")

    def run(self, *, kind: str, distinct_ids: list[str], timeout: float) -> ClientView:
        body = json.dumps({"distinct_ids": distinct_ids, "compliance_type": "GDPR"}).encode()
        # gunicorn closes idle keep-alive connections after a few seconds: a fresh one, opened
        # by an untimed read, so that the create is never sent on a closed one.
        self.connection.close()
        self.warm_up(kind)
        while True:
            submitted_at = time.time()
            response, answer, text = self._call("POST", PATHS[kind], body)
            answered_at = time.time()
            if response.status != 429:
                break
            # One create a second: a refused create stored nothing; the timed one is the next.
            time.sleep(float(response.getheader("Retry-After") or 1))
        if response.status not in (200, 201) or not answer:
            raise BenchRefused(f"The create answered HTTP {response.status}: {text}")
        tracking_id = answer["results"]["task_id"]
        polls = throttled = 0
        deadline = time.monotonic() + timeout
        while True:
            time.sleep(self.poll_interval)
            response, answer, text = self._call("GET", PATHS[kind] + tracking_id)
            polls += 1
            if response.status == 429:
                throttled += 1
                time.sleep(float(response.getheader("Retry-After") or 1))
                continue
            if response.status != 200 or not answer:
                raise BenchRefused(f"The status read answered HTTP {response.status}: {text}")
            status = answer["results"]["status"]
            if status in FINAL:
                return ClientView(
                    tracking_id=tracking_id,
                    status=status,
                    submitted_at=submitted_at,
                    answered_at=answered_at,
                    seen_at=time.time(),
                    polls=polls,
                    throttled=throttled,
                )
            if time.monotonic() > deadline:
                raise BenchRefused(f"The {kind} {tracking_id} is still {status} after {timeout} s.")
