"""`prefect.yaml` for real: a local Prefect server, a process work pool, `prefect deploy --all`,
a worker, and deployment runs triggered by hand that must reach Completed and fill the
warehouse. This is the "Run on a schedule" section of the README, executed."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, pipeline_config, procedural_answers
from warehouse.home import Home
from warehouse.lake import Lake

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
SPEC = "procedural://?n=40&seed=21&levels=1-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def prefect_stack(tmp_path):
    """A real `prefect server start` on loopback and the environment that points at it."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false", "TEACHABLE_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_KEY", None)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(env["PREFECT_API_URL"], server)
        yield env
    finally:
        stop(server)
        log.close()


def prefect(env, *args, cwd=REPO, timeout=300) -> str:
    proc = subprocess.run([PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def trigger(env, deployment: str, params: dict | None = None) -> str:
    args = ["deployment", "run", deployment] + (["--params", json.dumps(params)] if params else [])
    out = prefect(env, *args)
    return re.search(r"UUID:\s*([0-9a-f-]{36})", out).group(1)


def wait_for(env, flow_run_id: str, timeout: float = 420) -> str:
    """Poll the REST API directly (a Python client per poll would cost seconds of CPU each)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/flow_runs/{flow_run_id}", timeout=10) as response:
            state = json.loads(response.read())["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(1)
    return "TIMED OUT"


def api(env, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{env['PREFECT_API_URL']}{path}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def states(env, flow_run_id: str) -> list[dict]:
    return sorted(api(env, f"/flow_run_states/?flow_run_id={flow_run_id}"), key=lambda s: s["timestamp"])


def running_interval(env, flow_run_id: str) -> tuple[str, str]:
    history = states(env, flow_run_id)
    start = next(s["timestamp"] for s in history if s["type"] == "RUNNING")
    end = next(s["timestamp"] for s in history if s["type"] in ("COMPLETED", "FAILED", "CRASHED"))
    return start, end


def schedules(env) -> dict[str, list[str]]:
    script = ("import json; from prefect.client.orchestration import get_client\n"
              "with get_client(sync_client=True) as c:\n"
              "    print(json.dumps({d.name: [s.schedule.cron for s in d.schedules if s.active] for d in c.read_deployments()}))")
    return json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True).stdout)


def test_deploy_from_prefect_yaml_and_run_on_a_worker(prefect_stack, tmp_path):
    env = prefect_stack
    prefect(env, "work-pool", "create", "teachable", "--type", "process")
    prefect(env, "--no-prompt", "deploy", "--all")
    assert schedules(env) == {"curate-nightly": ["0 2 * * *"], "ingest-hourly": ["0 * * * *"], "publish": [],
                              "maintain-weekly": ["0 4 * * 0"]}
    deployments = api(env, "/deployments/filter", {})
    assert {(d["name"], d["global_concurrency_limit"]["limit"], d["concurrency_options"]["collision_strategy"])
            for d in deployments} == {
        (name, 1, "ENQUEUE") for name in ("curate-nightly", "ingest-hourly", "publish", "maintain-weekly")}

    # Two runs of one deployment due at once, before any worker: the worker's first poll submits
    # both, and the one that loses the slot must wait as Scheduled (AwaitingConcurrencySlot).
    ingest_run, queued_run = trigger(env, "ingest/ingest-hourly"), trigger(env, "ingest/ingest-hourly")
    worker_log = open(tmp_path / "worker.log", "w")
    # No worker limit: Prefect's deployment concurrency alone must keep a second run waiting.
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "teachable"], env=env, cwd=tmp_path,
                              stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with FakeOpenAI(oracle(procedural_answers(SPEC))) as fake:
            config = pipeline_config(tmp_path / "oracle.yaml", fake.base_url, SPEC)
            assert wait_for(env, ingest_run) == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
            assert wait_for(env, queued_run) == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
            # The one that lost the slot waited as Scheduled (AwaitingConcurrencySlot), not Running on the lock.
            waited = [r for r in (ingest_run, queued_run)
                      if any(s["name"] == "AwaitingConcurrencySlot" for s in states(env, r))]
            assert len(waited) == 1, [[s["name"] for s in states(env, r)] for r in (ingest_run, queued_run)]
            first, second = sorted([running_interval(env, ingest_run), running_interval(env, queued_run)])
            assert second[0] >= first[1]  # never both Running
            curate_run = trigger(env, "curate/curate-nightly", {"config_path": str(config)})
            assert wait_for(env, curate_run) == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
            publish_run = trigger(env, "publish/publish", {"name": "oracle", "settings": {"license": "mit", "allow_undecontaminated": True}})
            assert wait_for(env, publish_run) == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
            maintain_run = trigger(env, "maintain/maintain-weekly")
            assert wait_for(env, maintain_run) == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
            assert fake.requests, "the curate deployment never called the LLM endpoint"
    finally:
        stop(worker)
        worker_log.close()

    with Lake(Home.resolve(env["TEACHABLE_HOME"]), read_only=True) as lake:
        by_source = {r["source"]: r["n"] for r in lake.query(
            "SELECT source, count(*) AS n FROM prompts GROUP BY 1").to_pylist()}
        runs = lake.query("SELECT stage, flow_run_id FROM runs ORDER BY started_at").to_pylist()
        versions = lake.query("SELECT name, version, rows FROM dataset_versions").to_pylist()
    assert by_source["procedural"] == 400 + 40  # ingest-hourly's 400 demo seeds and the oracle config's 40
    assert {r["flow_run_id"] for r in runs[:2]} == {ingest_run, queued_run}
    assert [r["stage"] for r in runs] == ["ingest", "ingest", "ingest", "dedup", "rewrite", "difficulty", "traces",
                                          "publish", "publish", "maintain"]
    assert [(v["name"], v["version"]) for v in versions] == [("oracle", 1)]  # the on-demand publish: same content, no v2
    assert (Path(env["TEACHABLE_HOME"]) / "releases" / "oracle" / "v1" / "manifest.json").exists()
    # One event per new release (the on-demand publish changed nothing: no second event), for automations.
    events = api(env, "/events/filter", {"filter": {"event": {"name": ["teachable.release.published"]}}})["events"]
    assert [e["payload"] for e in events] == [{"name": "oracle", "version": 1, "rows": versions[0]["rows"],
                                               "sha256": events[0]["payload"]["sha256"],
                                               "path": events[0]["payload"]["path"]}]
    assert len(events[0]["payload"]["sha256"]) == 64
    assert events[0]["resource"]["prefect.resource.id"] == "teachable.release.oracle.v1"
