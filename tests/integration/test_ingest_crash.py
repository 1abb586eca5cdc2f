"""SIGKILL in the middle of an ingest: the warehouse holds the file completely or not at all."""

import os
import signal
import subprocess
import sys
import time

from warehouse.lake import Lake


def test_sigkill_mid_ingest_leaves_no_partial_rows_and_rerun_completes(home, tmp_path):
    pool = tmp_path / "pool.jsonl"
    with pool.open("w") as handle:
        for i in range(400_000):
            handle.write(f'{{"problem": "problem number {i} with some words", "answer": "{i}"}}\n')
    script = (
        "import sys; from warehouse.home import Home; from warehouse.lake import Lake;"
        "from schemas.config import SourceSettings, IngestSettings; from tasks.ingest.stage import ingest_source;"
        f"lake = Lake(Home.resolve({str(home.root)!r})); print('open', flush=True);"
        f"ingest_source(lake, SourceSettings(name='big', paths=[{str(pool)!r}]), IngestSettings(batch_size=20000), 'run-killed')"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    data = home.data
    deadline = time.time() + 120
    # Kill once the ingest has written Parquet files for some batches, i.e. mid-transaction.
    while time.time() < deadline and not any(data.rglob("*.parquet")):
        time.sleep(0.05)
    assert any(data.rglob("*.parquet")), "ingest never started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Lake(home) as lake:
        assert lake.count("prompts") == 0
        assert lake.count("ingest_files") == 0
        from schemas.config import IngestSettings, SourceSettings
        from tasks.ingest.stage import ingest_source

        totals = ingest_source(lake, SourceSettings(name="big", paths=[str(pool)]), IngestSettings(), "run-again").totals()
        assert totals["ingested"] == 400_000
        assert lake.count("prompts") == 400_000
        assert lake.query("SELECT count(DISTINCT prompt_id) FROM prompts").column(0)[0].as_py() == 400_000
