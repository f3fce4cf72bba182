"""The client side of `manage.py bench_ingest`, run as its own process: `python -m
benchmarks.ingest_client` reads its task as JSON on stdin and prints its result as JSON on stdout.

Standard library only, and no Django: the process measured against the server must not share
an interpreter (or a GIL) with it. The events it sends are made by `bench_events_build`, which
the command also calls to COPY the very same rows for comparison.
"""

import base64
import hashlib
import http.client
import json
import random
import sys
import threading
import time
from typing import Any

_CITIES = [
    ("San Francisco", "US"),
    ("London", "GB"),
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("Tokyo", "JP"),
    ("São Paulo", "BR"),
    ("Toronto", "CA"),
    ("Sydney", "AU"),
]
_BROWSERS = ["Chrome", "Safari", "Firefox", "Microsoft Edge"]
_OSES = ["Windows", "Mac OS X", "Linux", "iOS", "Android"]
_PAGES = ["/", "/pricing", "/products", "/products/lamp", "/blog", "/cart"]
_NAMES = ["Page View", "Page View", "Page View", "Search", "Add To Cart", "Purchase"]
EVENTS_PER_USER = 20
LIBRARY, LIBRARY_VERSION = "python", "5.4.1"


def bench_events_build(*, run_tag: str, token: str, count: int, now: int) -> list[dict[str, Any]]:
    """`count` /import events of users `bench-<run_tag>-<n>` over the last 30 days, as the
    official Python SDK's `import_data` would send them."""
    rng = random.Random(run_tag)  # noqa: S311 - synthetic data
    users = max(1, count // EVENTS_PER_USER)
    events = []
    for index in range(count):
        name = rng.choice(_NAMES)
        city, country = rng.choice(_CITIES)
        properties: dict[str, Any] = {
            "token": token,
            "time": now - rng.randrange(30 * 86400),
            "distinct_id": f"bench-{run_tag}-{rng.randrange(users)}",
            "$insert_id": hashlib.md5(
                f"{run_tag}:{index}".encode(), usedforsecurity=False
            ).hexdigest(),
            "mp_lib": LIBRARY,
            "$lib_version": LIBRARY_VERSION,
            "$browser": rng.choice(_BROWSERS),
            "$os": rng.choice(_OSES),
            "$city": city,
            "mp_country_code": country,
        }
        if name == "Page View":
            properties["$current_url"] = "https://shop.example.com" + rng.choice(_PAGES)
        elif name == "Search":
            properties["query"] = rng.choice(["lamp", "desk", "chair", "usb-c hub"])
        elif name == "Add To Cart":
            properties |= {"product": "Desk Lamp", "price": 39.0, "quantity": 1 + rng.randrange(3)}
        else:
            properties |= {"amount": round(5 + rng.random() * 500, 2), "currency": "USD"}
        events.append({"event": name, "properties": properties})
    return events


def _authorization(api_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{api_secret}:".encode()).decode("ascii")


def _post(
    conn: http.client.HTTPConnection, body: bytes, authorization: str
) -> tuple[int, dict[str, Any] | None, str]:
    conn.request(
        "POST",
        "/import?strict=1",
        body=body,
        headers={
            "Authorization": authorization,
            "Content-Type": "application/json",
            "Connection": "keep-alive",
        },
    )
    response = conn.getresponse()
    raw = response.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    return (
        response.status,
        answer if isinstance(answer, dict) else None,
        raw[:300].decode("utf-8", "replace"),
    )


def import_drive(task: dict[str, Any]) -> dict[str, Any]:
    """Sends the events in batches over `connections` keep-alive connections; times the run."""
    events = bench_events_build(
        run_tag=task["run_tag"], token=task["token"], count=task["events"], now=task["now"]
    )
    batch = task["batch"]
    bodies = [
        json.dumps(events[start : start + batch], separators=(",", ":")).encode()
        for start in range(0, len(events), batch)
    ]
    warmups = [
        json.dumps(
            bench_events_build(
                run_tag=f"{task['run_tag']}-warmup-{n}", token=task["token"], count=10,
                now=task["now"],
            ),
            separators=(",", ":"),
        ).encode()
        for n in range(task["connections"])
    ]  # fmt: skip
    del events
    authorization = _authorization(task["api_secret"])
    lock = threading.Lock()
    next_body = iter(range(len(bodies)))
    imported: list[int] = []
    latencies: list[float] = []
    failures: list[str] = []
    ready = threading.Barrier(task["connections"] + 1)

    def connection_run(warmup: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", task["port"], timeout=300)
        try:
            # Opens the connection and lets the worker set up its database connection.
            status, _, text = _post(conn, warmup, authorization)
            if status != 200:
                with lock:
                    failures.append(f"warm-up: HTTP {status}: {text}")
            ready.wait()
            while True:
                with lock:
                    index = next(next_body, None)
                if index is None:
                    return
                started = time.perf_counter()
                status, answer, text = _post(conn, bodies[index], authorization)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if status == 200 and answer is not None:
                        imported.append(int(answer.get("num_records_imported", 0)))
                    else:
                        failures.append(f"HTTP {status}: {text}")
        except threading.BrokenBarrierError:
            return  # another connection failed before the start; it said why
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
            ready.abort()
        finally:
            conn.close()

    threads = [
        threading.Thread(target=connection_run, args=(warmup,), daemon=True) for warmup in warmups
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=120)
    except threading.BrokenBarrierError:
        failures.append("the connections did not all get ready within 120 s")
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(bodies),
        "events_sent": task["events"],
        "events_imported": sum(imported),
        "seconds": seconds,
        "latency_p50": latencies[len(latencies) // 2] if latencies else None,
        "latency_p95": latencies[int(len(latencies) * 0.95)] if latencies else None,
        "failures": failures[:5],
        "failure_count": len(failures),
    }


if __name__ == "__main__":
    json.dump(import_drive(json.load(sys.stdin)), sys.stdout)
