"""Test utility: OpenAI's Files + Batches API on 127.0.0.1, as documented.

platform.openai.com/docs/guides/batch and the API reference (openai-python types `Batch`,
`FileObject`, `BatchRequestCounts`): `POST /v1/files` (multipart, purpose "batch") stores a
JSONL file of `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}` lines;
`POST /v1/batches {input_file_id, endpoint, completion_window: "24h"}` creates a batch that
goes validating -> in_progress -> finalizing -> completed (or expired, with what finished in
the output file and the rest in the error file as `batch_expired`); `GET /v1/batches/{id}`
shows it, `GET /v1/batches` lists them, `GET /v1/files/{id}/content` downloads a file. Output
lines are `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`;
requests that failed go to the error file. Refused: a file whose purpose is not "batch", an
endpoint other than the input lines' url, a completion_window other than "24h", duplicate
custom_ids. Each GET of a batch advances it one status (time passing); answers come from a
FakeOpenAI's `completion`, so they equal the synchronous endpoint's.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import uuid
from http.server import BaseHTTPRequestHandler

from tests.support.fake_openai import FakeOpenAI
from tests.support.loopback import LoopbackServer

STEPS = ("validating", "in_progress", "finalizing", "completed")


class FakeBatchAPI(LoopbackServer):
    def __init__(self, answers: FakeOpenAI, *, fail_share: float = 0.0, expire: set[int] = frozenset()):
        self.answers, self.fail_share, self.expire = answers, fail_share, set(expire)
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.failed_once: set[str] = set()
        self.lines_answered: list[str] = []  # request bodies answered with 200, over all batches
        self._listen()

    def _fails(self, body: dict) -> bool:
        """A deterministic share of requests (by body) fails (500) the first time they are sent."""
        key = json.dumps(body.get("messages"), sort_keys=True)
        if key in self.failed_once:
            return False
        bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 1000
        if bucket < self.fail_share * 1000:
            self.failed_once.add(key)
            return True
        return False

    def _finish(self, batch: dict) -> None:
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]]["content"].decode().splitlines() if x]
        expired = batch["_index"] in self.expire
        done, errors = [], []
        for position, line in enumerate(lines):
            cid = line["custom_id"]
            if expired and position >= len(lines) // 2:
                errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": cid, "response": None,
                               "error": {"code": "batch_expired",
                                         "message": "This request could not be executed before the completion window expired."}})
            elif self._fails(line["body"]):
                errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": cid,
                               "response": {"status_code": 500, "request_id": uuid.uuid4().hex,
                                            "body": {"error": {"message": "The server had an error", "type": "server_error"}}},
                               "error": None})
            else:
                offset = self.answers.record(line["body"])
                body = self.answers.completion(line["body"], offset)
                self.lines_answered.append(json.dumps(line["body"]["messages"], sort_keys=True))
                done.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": cid,
                             "response": {"status_code": 200, "request_id": uuid.uuid4().hex, "body": body}, "error": None})
        batch["output_file_id"] = self._store(done, "batch_output") if done else None
        batch["error_file_id"] = self._store(errors, "batch_output") if errors else None
        batch["status"] = "expired" if expired else "completed"
        batch["request_counts"] = {"total": len(lines), "completed": len(done), "failed": len(errors)}

    def _store(self, lines: list[dict], purpose: str) -> str:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        content = "".join(json.dumps(x) + "\n" for x in lines).encode()
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0,
                               "filename": f"{file_id}.jsonl", "purpose": purpose, "content": content}
        return file_id

    def _advance(self, batch: dict) -> None:
        if batch["status"] in ("completed", "expired", "failed", "cancelled"):
            return
        step = STEPS[STEPS.index(batch["status"]) + 1]
        if step == "completed":
            self._finish(batch)
        else:
            batch["status"] = step

    @staticmethod
    def public(record: dict) -> dict:
        return {k: v for k, v in record.items() if not k.startswith("_") and k != "content"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, payload: dict | bytes) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, message: str, param: str | None = None, status: int = 400) -> None:
                self._reply(status, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                               "code": None}})

            def do_GET(self) -> None:
                path = self.path.split("?")[0].removeprefix("/v1")
                with fake.lock:
                    if path == "/batches":
                        data = [fake.public(b) for b in reversed(list(fake.batches.values()))]
                        return self._reply(200, {"object": "list", "data": data, "has_more": False})
                    if path.startswith("/batches/"):
                        batch = fake.batches.get(path.split("/")[2])
                        if batch is None:
                            return self._error("No batch found", status=404)
                        fake._advance(batch)
                        return self._reply(200, fake.public(batch))
                    if path.startswith("/files/") and path.endswith("/content"):
                        found = fake.files.get(path.split("/")[2])
                        return self._reply(200, found["content"]) if found else self._error("No such File", status=404)
                self._error("unknown path", status=404)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0].removeprefix("/v1")
                with fake.lock:
                    if path == "/files":
                        return self._upload(raw)
                    if path == "/batches":
                        return self._create(json.loads(raw))
                self._error("unknown path", status=404)

            def _upload(self, raw: bytes) -> None:
                header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
                fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                          for part in message.iter_parts()}
                if fields.get("purpose") != b"batch":
                    return self._error("Invalid purpose for a batch input file", "purpose")
                content = fields.get("file") or b""
                ids = [json.loads(x)["custom_id"] for x in content.decode().splitlines() if x]
                if len(ids) != len(set(ids)):
                    return self._error("Duplicate custom_id in the input file", "file")
                file_id = f"file-{uuid.uuid4().hex[:24]}"
                fake.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0,
                                       "filename": "input.jsonl", "purpose": "batch", "content": content}
                self._reply(200, fake.public(fake.files[file_id]))

            def _create(self, body: dict) -> None:
                source = fake.files.get(body.get("input_file_id"))
                if source is None:
                    return self._error("No such File object", "input_file_id")
                if body.get("completion_window") != "24h":
                    return self._error("completion_window must be 24h", "completion_window")
                urls = {json.loads(x)["url"] for x in source["content"].decode().splitlines() if x}
                if urls != {body.get("endpoint")}:
                    return self._error("The url of every request must match the batch endpoint", "endpoint")
                batch_id = f"batch_{uuid.uuid4().hex[:24]}"
                fake.batches[batch_id] = {
                    "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                    "input_file_id": source["id"], "completion_window": "24h", "status": "validating",
                    "output_file_id": None, "error_file_id": None, "created_at": 0, "metadata": body.get("metadata"),
                    "request_counts": {"total": 0, "completed": 0, "failed": 0}, "_index": len(fake.batches),
                }
                self._reply(200, fake.public(fake.batches[batch_id]))

        return Handler
