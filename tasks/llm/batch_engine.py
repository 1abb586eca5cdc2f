"""Tasks layer (llm): the `openai_batch` engine, OpenAI's Batch API for work that can wait.

A run first collects every batch it submitted earlier (finished output and error files go into
the response cache; requests that failed or expired are no longer pending, so they are sent
again), then writes the still-missing requests not already waiting in a batch as one JSONL
input file, uploads it and creates the batch. The ledger lives in the response cache's SQLite
file (`batches`, `batch_requests`; copied into the warehouse's `llm_batches`), written so a
SIGKILL at any point loses nothing and submits nothing twice:
1. upload the file; 2. record file id and request keys (durable); 3. create the batch with
that file; 4. record the batch id. Killed between 1 and 2: an orphan file, the requests are
sent again next run. Between 3 and 4: the next run finds the batch by its input file id in the
provider's list and adopts it instead of creating another. Collected samples are stored with
INSERT OR IGNORE and one call row per output line (its id from batch and custom id), so a
collection repeated after a kill stores everything exactly once. `batch_wait_s` > 0 polls
until the batches finish; 0 submits and returns (the stage counts the prompts as incomplete;
`teachable batches collect` or the next run picks the answers up).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import UTC, datetime

import openai

from schemas.llm import EngineSettings
from tasks.llm.base import CallCallback, Job, LLMFatalError, SamplesCallback
from tasks.llm.cache import ResponseCache
from tasks.llm.openai_engine import OpenAIEngine, parse_samples
from tasks.failpoints import failpoint

DONE = ("completed", "expired", "failed", "cancelled")
ENDPOINT = "/v1/chat/completions"


class _Body:
    """A chat completion from a batch output line, shaped like the SDK's object for parse_samples."""

    def __init__(self, body: dict):
        self.response = openai.types.chat.ChatCompletion.model_validate(body)


class OpenAIBatchEngine(OpenAIEngine):
    name = "openai_batch"

    def __init__(self, settings: EngineSettings, gate=None):
        super().__init__(settings, gate=gate)
        self.ledger: ResponseCache | None = None
        self.run_id, self.stage = "", ""

    def bind(self, cache: ResponseCache, run_id: str, stage: str) -> None:
        self.ledger, self.run_id, self.stage = cache, run_id, stage

    def _client(self) -> openai.OpenAI:
        s = self.settings
        return openai.OpenAI(base_url=s.base_url, api_key=self._api_key, max_retries=s.max_attempts,
                             timeout=s.timeout_s)

    def run(self, jobs: list[Job], on_samples: SamplesCallback, on_call: CallCallback) -> None:
        if self.ledger is None:
            raise LLMFatalError("openai_batch needs the response cache (run it through LLMClient)")
        deadline = time.monotonic() + self.settings.batch_wait_s
        with self._client() as client:
            while True:
                self.collect(client, on_samples, on_call)
                self._submit_missing(client, jobs)  # failed or expired requests go out again
                if not self._open_batches() or time.monotonic() >= deadline:
                    return
                time.sleep(self.settings.batch_poll_s)

    def _submit_missing(self, client: openai.OpenAI, jobs: list[Job]) -> None:
        waiting = self._pending_keys()
        answered = self.ledger.get_many([k for j in jobs for k in j.keys])
        todo = [Job(j.request, [k for k in j.keys if k not in answered]) for j in jobs if not set(j.keys) & waiting]
        todo = [j for j in todo if j.keys]
        if todo:
            self._submit(client, todo)

    # --- submit -------------------------------------------------------------------------------
    def _submit(self, client: openai.OpenAI, jobs: list[Job]) -> None:
        ref = uuid.uuid4().hex
        lines, requests = [], []
        for index, job in enumerate(jobs):
            custom_id = f"{ref[:8]}-{index}"
            fields, extra = self.dialect.body(self.model, job.request, len(job.keys))
            lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                                     "body": {**fields, **extra}}))
            requests.append((ref, custom_id, json.dumps(job.keys)))
        data = ("\n".join(lines) + "\n").encode()
        uploaded = client.files.create(file=(f"teachable-{ref}.jsonl", io.BytesIO(data)), purpose="batch")
        failpoint("llm.batch.uploaded")
        with self.ledger.transaction() as db:
            db.execute("INSERT INTO batches (batch_ref, model, input_file_id, status, requests, run_id, stage, "
                       "created_at) VALUES (?, ?, ?, 'uploaded', ?, ?, ?, ?)",
                       (ref, self.model, uploaded.id, len(jobs), self.run_id, self.stage, datetime.now(UTC).isoformat()))
            db.executemany("INSERT INTO batch_requests VALUES (?, ?, ?)", requests)
        self._create(client, ref, uploaded.id)

    def _create(self, client: openai.OpenAI, ref: str, file_id: str) -> None:
        batch = client.batches.create(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h",
                                      metadata={"teachable_ref": ref})
        failpoint("llm.batch.created")
        self._record(ref, batch.id, batch.status)

    def _record(self, ref: str, batch_id: str, status: str, collected: int = 0) -> None:
        with self.ledger.transaction() as db:
            db.execute("UPDATE batches SET batch_id = ?, status = ?, collected = ?, flushed = 0 WHERE batch_ref = ?",
                       (batch_id, status, collected, ref))

    # --- collect ------------------------------------------------------------------------------
    def _open_batches(self) -> list[tuple]:
        return self.ledger.rows("SELECT batch_ref, input_file_id, batch_id FROM batches "
                                "WHERE collected = 0 AND model = ?", (self.model,))

    def _pending_keys(self) -> set[str]:
        rows = self.ledger.rows("SELECT r.keys FROM batch_requests r JOIN batches b USING (batch_ref) "
                                "WHERE b.collected = 0 AND b.model = ?", (self.model,))
        return {k for (keys,) in rows for k in json.loads(keys)}

    def collect(self, client: openai.OpenAI, on_samples: SamplesCallback, on_call: CallCallback) -> int:
        """Store every finished batch's answers; returns how many batches were collected."""
        collected = 0
        for ref, file_id, batch_id in self._open_batches():
            if batch_id is None:
                batch_id = self._adopt(client, ref, file_id)
                if batch_id is None:
                    continue
            batch = client.batches.retrieve(batch_id)
            if batch.status not in DONE:
                continue
            keys = dict(self.ledger.rows("SELECT custom_id, keys FROM batch_requests WHERE batch_ref = ?", (ref,)))
            for file in (batch.output_file_id, batch.error_file_id):
                if file:
                    self._store_file(client.files.content(file).text, batch_id, keys, on_samples, on_call)
                    failpoint("llm.batch.collected_file")
            self._record(ref, batch_id, batch.status, collected=1)
            collected += 1
        return collected

    def collect_pending(self, on_samples: SamplesCallback, on_call: CallCallback) -> tuple[int, int]:
        """(batches collected, batches still open): `teachable batches collect`."""
        with self._client() as client:
            done = self.collect(client, on_samples, on_call)
        return done, len(self._open_batches())

    def _adopt(self, client: openai.OpenAI, ref: str, file_id: str) -> str | None:
        """A batch created just before a kill: find it by its input file, or create it now."""
        for batch in client.batches.list(limit=100):
            if batch.input_file_id == file_id:
                self._record(ref, batch.id, batch.status)
                return batch.id
        self._create(client, ref, file_id)
        return None

    def _store_file(self, text: str, batch_id: str, keys: dict[str, str], on_samples: SamplesCallback,
                    on_call: CallCallback) -> None:
        for line in text.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            wanted = json.loads(keys.get(row.get("custom_id"), "[]"))
            call = {"call_id": f"{batch_id}:{row.get('custom_id')}", "call_key": wanted[0] if wanted else "",
                    "attempt": 1, "samples": len(wanted), "engine": self.name, "model": self.model, "latency_s": None}
            response = row.get("response") or {}
            if response.get("status_code") == 200 and wanted:
                samples, prompt_tokens, completion_tokens = parse_samples(_Body(response["body"]).response)
                cost = self._cost(prompt_tokens, completion_tokens)
                call.update(status="ok", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            cost_usd=None if cost is None else cost * self.settings.batch_discount)
                taken = wanted[: len(samples)]
                on_samples(Job(None, taken), taken, samples[: len(taken)], call)  # type: ignore[arg-type]
            else:
                error = row.get("error") or (response.get("body") or {}).get("error") or {}
                why = error.get("code") or f"status {response.get('status_code')}"
                on_call({**call, "status": "error", "error": f"batch: {why}"[:200]})
