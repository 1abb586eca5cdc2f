"""Test utility: an HTTP proxy in front of an OpenAI-compatible server that injects faults.

A seeded share of chat requests gets a 429 (with Retry-After), a 500, a hang past the client's
timeout, or a 200 with a malformed body; the rest are forwarded. It counts what it did and
flags any request body sent again after it had once succeeded (a re-sent finished request).
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer

FAULTS = ("429", "500", "timeout", "malformed")


class FaultProxy(LoopbackServer):
    def __init__(self, upstream: str, fault_rate: float = 0.2, seed: int = 0, hang_s: float = 3.0,
                 retry_after: str = "1"):
        self.upstream = upstream.rstrip("/")
        self.fault_rate, self.hang_s, self.retry_after = fault_rate, hang_s, retry_after
        self.rng = random.Random(seed)
        self.counts: Counter = Counter()
        self.succeeded: set[str] = set()
        self.repeated_after_success = 0
        self.headers_seen: list[dict] = []
        self._listen()

    def _pick_fault(self) -> str | None:
        with self.lock:
            return self.rng.choice(FAULTS) if self.rng.random() < self.fault_rate else None

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes]:
                root = proxy.upstream.removesuffix("/v1")  # self.path already starts with /v1
                request = urllib.request.Request(root + self.path, data=body, method=method,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=600) as response:
                        return response.status, response.read()
                except urllib.error.HTTPError as exc:
                    return exc.code, exc.read()

            def do_GET(self) -> None:
                status, body = self._forward("GET", None)
                self._reply(status, body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.headers_seen.append(dict(self.headers))
                    proxy.counts["requests"] += 1
                fault = proxy._pick_fault()
                with proxy.lock:
                    proxy.counts[fault or "forwarded"] += 1
                if fault == "429":
                    return self._reply(429, b'{"error": {"message": "slow down"}}', {"Retry-After": proxy.retry_after})
                if fault == "500":
                    return self._reply(500, b'{"error": {"message": "boom"}}')
                if fault == "timeout":
                    time.sleep(proxy.hang_s)
                    self.close_connection = True
                    return None
                if fault == "malformed":
                    return self._reply(200, b'{"id": "x", "choices": [{"message": ')
                digest = hashlib.sha256(body).hexdigest()
                status, answer = self._forward("POST", body)
                with proxy.lock:
                    if status == 200:
                        if digest in proxy.succeeded:
                            proxy.repeated_after_success += 1
                        proxy.succeeded.add(digest)
                        proxy.counts["upstream_ok"] += 1
                self._reply(status, answer)

        return Handler
