"""A callback receiver for the tests: an http.server that records each POST (headers, body,
when it came) and answers each delivery (by its webhook-id) with its scripted status codes in
turn, then 200: with codes 500,500 every delivery fails twice and succeeds on the third try.

Unit tests run it in a thread; the end-to-end tests run this module as a process of its own
(`python tests/callback_receiver.py PORT LOG_FILE CODES`), which appends one JSON line per
POST to LOG_FILE and answers 302 to a Location of its own on the path /redirect."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, codes: list[int] | None = None, log_file: str | None = None):
        self.codes = list(codes or [])
        self.received: list[dict] = []
        self._tries: dict[str, int] = {}
        self.log_file = log_file
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    delivery_id = self.headers.get("webhook-id", "")
                    tries = receiver._tries.get(delivery_id, 0)
                    receiver._tries[delivery_id] = tries + 1
                    code = receiver.codes[tries] if tries < len(receiver.codes) else 200
                    if self.path.startswith("/redirect"):
                        code = 302
                    record = {
                        "path": self.path,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "body": body.decode(),
                        "at": time.time(),
                        "answered": code,
                    }
                    receiver.received.append(record)
                    if receiver.log_file:
                        with open(receiver.log_file, "a") as log:
                            log.write(json.dumps(record) + "\n")
                self.send_response(code)
                if code == 302:
                    self.send_header("Location", "/redirected-here")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # noqa: A002 - http.server's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    port, log_file, codes = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    receiver = Receiver([int(code) for code in codes.split(",") if code], log_file=log_file)
    receiver.server.server_close()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)
    print(f"Receiving on {port}", flush=True)
    receiver.server.serve_forever()
