"""Tasks layer (llm): the persistent response cache and the durable call log.

A SQLite file (WAL) below the home's cache/ dir, because every finished sample must be
durable the moment it arrives (a crash must not re-send it) and a DuckLake commit per
response would be one snapshot per sample. The call log is copied into the warehouse's
`llm_calls` table by `flush_calls`; rows survive a crash and are flushed by the next run.
Keys are hashes of everything that changes an answer; no secret ever enters this file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.llm import LLMRequest
from schemas.records import LLMCall

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, model TEXT, text TEXT, reasoning TEXT, finish_reason TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, created_at TEXT);
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, call_key TEXT, attempt INTEGER, samples INTEGER, run_id TEXT,
    stage TEXT, engine TEXT, model TEXT, status TEXT, prompt_tokens INTEGER,
    completion_tokens INTEGER, cost_usd REAL, latency_s REAL, error TEXT, created_at TEXT,
    flushed INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS calls_unflushed ON calls(flushed) WHERE flushed = 0;
CREATE TABLE IF NOT EXISTS batches (
    batch_ref TEXT PRIMARY KEY, model TEXT, input_file_id TEXT, batch_id TEXT, status TEXT,
    requests INTEGER, run_id TEXT, stage TEXT, created_at TEXT, collected INTEGER DEFAULT 0,
    flushed INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS batch_requests (
    batch_ref TEXT, custom_id TEXT, keys TEXT, PRIMARY KEY (batch_ref, custom_id));
"""
_CALL_COLUMNS = (
    "call_id", "call_key", "attempt", "samples", "run_id", "stage", "engine", "model", "status",
    "prompt_tokens", "completion_tokens", "cost_usd", "latency_s", "error", "created_at",
)


@dataclass(frozen=True)
class Sample:
    """One generated answer (a choice of a response)."""

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    channel: str | None = None  # where the reasoning came from (tasks.llm.dialects.CHANNELS)


def sample_key(model: str, request: LLMRequest, sample_index: int) -> str:
    """Hash of everything that changes the answer: model, messages, sampling, template, index."""
    payload = {"model": model, "request": request.model_dump(mode="json"), "sample_index": sample_index}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Thread-safe; one connection guarded by a lock (writes are tiny and rare vs. generation)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
        if "channel" not in columns:  # caches written before reasoning channels were recorded
            self._db.execute("ALTER TABLE responses ADD COLUMN channel TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get_many(self, keys: list[str]) -> dict[str, Sample]:
        found: dict[str, Sample] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, reasoning, finish_reason, prompt_tokens, completion_tokens, channel "
                    f"FROM responses WHERE key IN ({marks})", chunk,
                ).fetchall()
                for key, *rest in rows:
                    found[key] = Sample(*rest)
        return found

    def put(self, samples: dict[str, Sample], model: str, call: dict | None = None) -> None:
        """Store samples (and the call that produced them) in one durable transaction."""
        at = datetime.now(UTC).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO responses (key, model, text, reasoning, finish_reason, prompt_tokens, "
                    "completion_tokens, created_at, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(k, model, s.text, s.reasoning, s.finish_reason, s.prompt_tokens, s.completion_tokens, at,
                      s.channel)
                     for k, s in samples.items()],
                )
                if call is not None:
                    self._insert_call(call)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def log_call(self, call: dict) -> None:
        with self._lock:
            self._insert_call(call)

    def _insert_call(self, call: dict) -> None:
        row = {**call, "created_at": call.get("created_at") or datetime.now(UTC).isoformat()}
        self._db.execute(
            f"INSERT OR IGNORE INTO calls ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))})",
            [row.get(c) for c in _CALL_COLUMNS],
        )

    def unflushed_calls(self) -> pa.Table:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls WHERE flushed = 0 ORDER BY created_at"
            ).fetchall()
        records = [dict(zip(_CALL_COLUMNS, r)) for r in rows]
        for record in records:
            record["created_at"] = datetime.fromisoformat(record["created_at"])
        return pa.Table.from_pylist(records, schema=arrow_schema(LLMCall))

    def mark_flushed(self, call_ids: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE calls SET flushed = 1 WHERE call_id = ?", [(c,) for c in call_ids])
            self._db.execute("COMMIT")

    def usage_per_sample(self, stage: str, model: str) -> tuple[float, float, int] | None:
        """(prompt tokens per request, completion tokens per sample, requests seen) of this
        stage and model's answered calls, or None when it has none yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT sum(prompt_tokens), sum(completion_tokens), sum(samples), count(*) FROM calls "
                "WHERE status = 'ok' AND stage = ? AND model = ?", (stage, model),
            ).fetchone()
        if not row or not row[3] or not row[2]:
            return None
        return row[0] / row[3], row[1] / row[2], int(row[3])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One durable write of the batch ledger (tasks.llm.batch_engine)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def count_calls(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM calls").fetchone()[0])


_BATCH_COLUMNS = ("batch_ref", "batch_id", "input_file_id", "model", "status", "requests", "collected", "run_id",
                  "stage", "created_at")


def flush_calls(cache: ResponseCache, lake) -> int:
    """Copy not-yet-flushed call rows into the warehouse's `llm_calls` and the batch ledger's
    changed rows into `llm_batches` (one snapshot)."""
    table = cache.unflushed_calls()
    batches = [dict(zip(_BATCH_COLUMNS, row)) for row in cache.rows(
        f"SELECT {', '.join(_BATCH_COLUMNS)} FROM batches WHERE flushed = 0")]
    if table.num_rows == 0 and not batches:
        return 0
    with lake.transaction():
        if table.num_rows:
            lake.insert_new(LLMCall, table)
        if batches:
            from schemas.llm import LLMBatch

            for row in batches:
                row["created_at"], row["collected"] = datetime.fromisoformat(row["created_at"]), bool(row["collected"])
            lake.insert_new(LLMBatch, pa.Table.from_pylist(batches, schema=arrow_schema(LLMBatch)))
    cache.mark_flushed(table.column("call_id").to_pylist())
    with cache.transaction() as db:
        db.executemany("UPDATE batches SET flushed = 1 WHERE batch_ref = ?", [(b["batch_ref"],) for b in batches])
    return table.num_rows
