"""A bounded mixed load under faults (issue 16, section 1): for a while, events go in through
/import and exports, deletions and canceled deletions through the GDPR API of a real gunicorn,
served by a real rqworker, while the worker is SIGKILLed and PostgreSQL and Redis are stopped
and started again at random. Then the faults stop, the sweep runs until every request has
ended, and the tables are checked against what the clients were told:

- lost: a request answered 201 that is missing or never ended, an event answered 200 that is
  missing (and was not deleted);
- wrong rows: a request that ended FAILURE, counts that differ from the subjects' events, a
  deletion that left rows, a canceled request that removed any, a broken audit chain, any 500;
- duplicates: a request that ended twice (two final audit entries), an event stored twice,
  a request stored twice for one Idempotency-Key.

Every server is private (benchmarks/private_servers.py): the machine's are never touched.
Each subject (distinct_id) is named by one request at most, after all its events were
acknowledged, so what each request must find is known exactly.
"""

import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from benchmarks.chaos_stack import Stack

Say = Callable[[str], None]
RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
RETRYABLE = {429, 502, 503, 504}
HTTP_TIMEOUT = 15
# The drain gives up when no request has ended for this long.
DRAIN_STALL_SECONDS = 120
# The load waits while this many requests are open: a bounded backlog that one worker drains.
MAX_OPEN = 40
FINAL = ("SUCCESS", "FAILURE", "REVOKED")


@dataclass
class Order:
    kind: str  # export, deletion, canceled
    subjects: list[str]
    events: int
    tracking_id: str = ""
    cancel_status: int = 0


@dataclass
class ChaosReport:
    requests: int = 0
    events: int = 0
    lost: int = 0
    wrong_rows: int = 0
    duplicates: int = 0
    server_errors: int = 0
    faults: Counter = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"requests {self.requests}, lost {self.lost}, wrong rows {self.wrong_rows}, "
            f"duplicates {self.duplicates}"
        )

    def detail(self) -> str:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        return f"events {self.events}, 500s {self.server_errors}; faults: {faults or 'none'}"

    @property
    def ok(self) -> bool:
        return not (self.lost or self.wrong_rows or self.duplicates or self.server_errors)


class Load:
    """The clients: ingestion, then requests naming subjects whose events are all stored."""

    def __init__(self, stack: Stack, report: ChaosReport, rng: random.Random) -> None:
        self.stack, self.report, self.rng = stack, report, rng
        self.http = requests.Session()
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {stack.secrets['gdpr_token']}"
        self.token = stack.secrets["project_token"]
        self.ready: list[tuple[str, int]] = []
        self.stored: dict[str, int] = {}  # subject -> events acknowledged
        self.orders: list[Order] = []
        self.serial = 0
        self.open_seen = 0
        self.open_checked_at = 0.0

    def step(self) -> None:
        """Events all along; a request when the backlog allows (subjects never named by one
        are checked too: every event acknowledged is stored once)."""
        self.ingest()
        if self.open_requests() < MAX_OPEN:
            self.submit()

    def open_requests(self) -> int:
        """Requests not ended yet (looked up at most once a second; while PostgreSQL is away,
        the last count)."""
        if time.monotonic() - self.open_checked_at < 1:
            return self.open_seen
        self.open_checked_at = time.monotonic()
        try:
            self.open_seen = open_count(self.stack, [o.tracking_id for o in self.orders])
        except psycopg.Error:
            pass
        return self.open_seen

    def call(self, session: requests.Session, method: str, url: str, **kwargs):
        """One answer that is not an outage: retried while the site says to come back."""
        for _ in range(120):
            try:
                response = session.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if response.status_code not in RETRYABLE:
                if response.status_code >= 500:
                    self.report.server_errors += 1
                    self.report.findings.append(f"{method} {url}: {response.status_code}")
                return response
            time.sleep(0.5)
        raise RuntimeError(f"{method} {url}: no answer for a minute")

    def ingest(self) -> None:
        batch, now = [], int(time.time())
        for _ in range(4):
            self.serial += 1
            subject, count = f"s{self.serial:06d}", self.rng.randint(2, 12)
            batch.append((subject, count))
        records = [
            {"event": "Viewed", "properties": {
                "token": self.token, "distinct_id": subject, "time": now - k,
                "$insert_id": f"{subject}-{k}"}}
            for subject, count in batch for k in range(count)
        ]  # fmt: skip
        answer = self.call(
            self.http, "POST", f"{self.stack.base_url}/import", json=records,
            auth=(self.stack.secrets["api_secret"], ""),
        )  # fmt: skip
        if answer.status_code == 200:
            self.ready += batch
            self.stored.update(batch)
            self.report.events += len(records)

    def submit(self) -> None:
        if not self.ready:
            return
        picked = [self.ready.pop(0) for _ in range(min(len(self.ready), self.rng.randint(1, 3)))]
        kind = self.rng.choice(["export", "export", "deletion", "deletion", "canceled"])
        order = Order(kind, [s for s, _ in picked], sum(n for _, n in picked))
        path = RETRIEVALS if kind == "export" else DELETIONS
        answer = self.call(
            self.api, "POST", f"{self.stack.base_url}{path}", params={"token": self.token},
            json={"distinct_ids": order.subjects},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        if answer.status_code != 201:
            self.report.findings.append(f"create answered {answer.status_code}: {answer.text}")
            self.report.wrong_rows += 1
            return
        order.tracking_id = answer.json()["results"]["task_id"]
        if kind == "canceled":
            canceled = self.call(
                self.api, "DELETE", f"{self.stack.base_url}{DELETIONS}{order.tracking_id}",
                params={"token": self.token},
            )  # fmt: skip
            order.cancel_status = canceled.status_code
        self.orders.append(order)
        self.report.requests += 1


def inject_faults(stack: Stack, report: ChaosReport, rng: random.Random, stop: threading.Event):
    while not stop.wait(rng.uniform(3, 10)):
        fault = rng.choice(["worker killed", "redis restarted", "postgresql restarted"])
        if fault == "worker killed":
            stack.worker_kill()
        elif fault == "redis restarted":
            stack.redis_restart(rng.uniform(0.5, 3))
        else:
            stack.postgres_restart(rng.uniform(0.5, 3), rng.choice(["fast", "immediate"]))
        report.faults[fault] += 1


def chaos_run(*, seconds: float, seed: int, say: Say) -> ChaosReport:
    report, rng = ChaosReport(), random.Random(seed)  # noqa: S311 - a load, not a secret
    stack = Stack(say=say)
    try:
        stack.start()
        say(f"Load for {seconds:.0f} s against {stack.base_url}, with faults...")
        load = Load(stack, report, rng)
        stop = threading.Event()
        chaos = threading.Thread(target=inject_faults, args=(stack, report, rng, stop))
        chaos.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                load.step()
                stack.worker_supervise()
                time.sleep(0.05)
        finally:
            stop.set()
            chaos.join()
        say(f"Faults stopped ({report.detail()}); draining...")
        drained_at = time.monotonic()
        still = drain(stack, load)
        waited = time.monotonic() - drained_at
        say(
            f"Every request ended {waited:.0f} s after the faults stopped."
            if not still
            else f"{still} requests still open {waited:.0f} s after the faults stopped."
        )
        check(stack, load, report)
        web_output = stack.web.output()
        if "Internal Server Error" in web_output or report.server_errors:
            report.server_errors = max(report.server_errors, web_output.count("Internal Server"))
            kept = Path(tempfile.mkstemp(prefix="chaos-web-", suffix=".log")[1])
            kept.write_text(web_output)
            report.findings.append(f"web server output: {kept}")
    finally:
        stack.close()
    return report


def open_count(stack: Stack, ids: list[str]) -> int:
    with stack.database() as db:
        return db.execute(
            "SELECT count(*) FROM privacy_requests_privacyrequest "
            "WHERE tracking_id = ANY(%s) AND status <> ALL(%s)",
            [ids, list(FINAL)],
        ).fetchone()[0]


def drain(stack: Stack, load: Load) -> int:
    """Sweeps until every request has ended, as the workers' own sweep would in time; gives
    up when none has ended for DRAIN_STALL_SECONDS. Returns how many are still open."""
    ids = [order.tracking_id for order in load.orders]
    last, progressed_at = None, time.monotonic()
    while True:
        stack.worker_supervise()
        still = open_count(stack, ids)
        if still == 0:
            return 0
        if last is None or still < last:
            last, progressed_at = still, time.monotonic()
        elif time.monotonic() - progressed_at > DRAIN_STALL_SECONDS:
            load.report.findings.append("worker output:\n" + stack.worker.output()[-6000:])
            return still
        stack.manage("privacy_sweep")
        time.sleep(3)


def check(stack: Stack, load: Load, report: ChaosReport) -> None:
    ids = [order.tracking_id for order in load.orders]
    with stack.database() as db:
        rows = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT tracking_id, status, counts, error FROM privacy_requests_privacyrequest "
                "WHERE tracking_id = ANY(%s)",
                [ids],
            )
        }
        events = dict(
            db.execute("SELECT distinct_id, count(*) FROM projects_event GROUP BY distinct_id")
        )
        endings = Counter(
            row[0]
            for row in db.execute(
                "SELECT r.tracking_id FROM privacy_requests_auditentry a "
                "JOIN privacy_requests_privacyrequest r ON r.id = a.request_id "
                "WHERE a.action IN ('succeeded', 'failed', 'canceled')"
            )
        )
        stored_requests = db.execute("SELECT count(*) FROM privacy_requests_privacyrequest")
        extra_requests = stored_requests.fetchone()[0] - len(ids)
    named = {subject for order in load.orders for subject in order.subjects}

    def finding(kind: str, text: str) -> None:
        setattr(report, kind, getattr(report, kind) + 1)
        report.findings.append(f"{kind}: {text}")

    for order in load.orders:
        row = rows.get(order.tracking_id)
        if row is None or row[0] not in FINAL:
            finding("lost", f"{order.tracking_id} ({order.kind}) is {row and row[0]}")
            continue
        status, counts, error = row
        left = sum(events.get(subject, 0) for subject in order.subjects)
        if endings[order.tracking_id] > 1:
            finding("duplicates", f"{order.tracking_id} ended {endings[order.tracking_id]} times")
        if status == "FAILURE":
            finding("wrong_rows", f"{order.tracking_id} ({order.kind}) FAILURE: {error}")
        elif status == "REVOKED":
            if left != order.events:
                finding("wrong_rows", f"{order.tracking_id} revoked, {left}/{order.events} rows")
        elif order.kind == "canceled" and order.cancel_status == 204:
            finding("wrong_rows", f"{order.tracking_id} canceled (204) but ended {status}")
        elif counts.get("events") != order.events:
            finding(
                "wrong_rows",
                f"{order.tracking_id} ({order.kind}) counted {counts} of {order.events}, "
                f"{left} rows left",
            )
        elif order.kind == "export" and left != order.events:
            finding("wrong_rows", f"{order.tracking_id} export, {left}/{order.events} rows left")
        elif order.kind != "export" and left:
            finding("wrong_rows", f"{order.tracking_id} deletion left {left} rows")
    for subject, count in load.stored.items():
        if subject in named:
            continue
        if events.get(subject, 0) < count:
            finding("lost", f"{subject}: {events.get(subject, 0)} of {count} events")
        elif events.get(subject, 0) > count:
            finding("duplicates", f"{subject}: {events[subject]} events, {count} sent")
    if extra_requests:
        finding("duplicates", f"{extra_requests} requests stored that no client was told of")
    try:
        stack.manage("audit_verify")
    except RuntimeError as exc:
        finding("wrong_rows", f"audit chain: {exc}")
