"""Test utility: a tiny OpenAI-compatible chat server on 127.0.0.1 with scripted answers.

Answers are a function of the request (so tests can predict them), `n` is honoured unless
`max_n` caps it, and every request is counted. `reasoning_field` adds separate reasoning the
way reasoning models return it. `dialect` makes the server strict the way one real provider
is (tests.support.dialects): it refuses what that provider refuses, with its error body, and
answers in its shape.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from tests.support.dialects import DIALECTS, refusal, shape
from tests.support.loopback import LoopbackServer


def default_answer(messages: list[dict], index: int) -> str:
    return f"Thinking about it. The answer is \\boxed{{{index % 3}}}."


class FakeOpenAI(LoopbackServer):
    def __init__(self, answer: Callable[[list[dict], int], str] = default_answer, *, api_key: str | None = None,
                 max_n: int | None = None, reasoning_field: str | None = None, status: int = 200,
                 delay_s: float = 0.0, dialect: str = "chat", context_length: int | None = None):
        assert dialect in DIALECTS, dialect
        self.dialect, self.context_length = dialect, context_length
        self.answer, self.api_key, self.max_n = answer, api_key, max_n
        self.reasoning_field, self.status, self.delay_s = reasoning_field, status, delay_s
        self.requests: list[dict] = []
        # How often each message list was asked so far: a scan of `requests` per request made a
        # 100k-request bench quadratic (the endpoint, not the pipeline, slowed down over time).
        self.asked: Counter[str] = Counter()
        self.in_flight = self.max_in_flight = 0
        self._listen()

    def record(self, body: dict) -> int:
        """Keep the request; returns how many times its messages were asked before."""
        key = json.dumps(body.get("messages"), sort_keys=True)
        with self.lock:
            self.requests.append(body)
            self.asked[key] += 1
            return self.asked[key] - 1

    def completion(self, body: dict, offset: int) -> dict:
        n = body.get("n", 1)
        if self.max_n is not None:
            n = min(n, self.max_n)
        choices = []
        for i in range(n):
            content, finish = self.answer(body["messages"], offset * 100 + i), "stop"
            if isinstance(content, tuple):  # (text, finish_reason): "length" = cut at max_tokens (OpenAI docs)
                content, finish = content
            message = {"role": "assistant", "content": content}
            if self.reasoning_field:
                message[self.reasoning_field] = f"reasoning {i}"
            message = shape(self.dialect, message, i)
            choices.append({"index": i, "message": message, "finish_reason": finish})
        usage = {"prompt_tokens": 10, "completion_tokens": 7 * n, "total_tokens": 10 + 7 * n}
        if self.dialect == "openai_reasoning":  # billed, counted, never shown
            usage["completion_tokens_details"] = {"reasoning_tokens": 5 * n}
        return {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": choices, "usage": usage}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                card = {"id": "fake", "object": "model"}
                if fake.context_length:  # vLLM lists max_model_len on its model cards
                    card["max_model_len"] = fake.context_length
                self._reply(200, {"object": "list", "data": [card]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                offset = fake.record(body)
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
                if fake.status != 200:
                    return self._reply(fake.status, {"error": {"message": "scripted failure"}})
                refused = refusal(fake.dialect, body)
                if refused is not None:
                    return self._reply(400, {"error": refused})
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    if fake.delay_s:
                        time.sleep(fake.delay_s)  # a slow model: keeps a run busy long enough to race it
                    self._reply(200, fake.completion(body, offset))
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        return Handler
