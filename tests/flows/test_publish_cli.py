"""`teachable publish` and `teachable datasets list|show|diff|verify` end to end: the real CLI in
subprocesses (publish under the session Prefect harness), a small hand-built warehouse."""

import json
from datetime import UTC, datetime

import pytest

from schemas.records import Difficulty, Prompt, Trace
from tests.support.cli import run_cli
from warehouse.lake import Lake

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def pool(home):
    """8 prompts (p00-p07) with 2 kept traces each; odd ones are too_hard, even ones teachable."""
    with Lake(home) as lake, lake.transaction():
        ids = [f"p{i:02d}" for i in range(8)]
        lake.insert_records([Prompt(prompt_id=p, source="gsm8k" if i < 4 else "math", source_file="seed.jsonl",
                                    source_id=str(i), problem=f"What is {i} times 2?", answer=str(2 * i), domain="math",
                                    text_hash=p, run_id="ingest-1", ingested_at=T0) for i, p in enumerate(ids)])
        lake.insert_records([Difficulty(prompt_id=p, model="base", n=8, n_correct=4 if i % 2 == 0 else 0,
                                        pass_rate=0.5 if i % 2 == 0 else 0.0, band="teachable" if i % 2 == 0 else "too_hard",
                                        run_id="difficulty-1") for i, p in enumerate(ids)])
        lake.insert_records([Trace(prompt_id=p, teacher="teacher", sample_index=k, reasoning=f"double {i}",
                                   solution=f"\\boxed{{{2 * i}}}", final_answer=str(2 * i), correct=True, tokens=50,
                                   status="kept", run_id="traces-1") for i, p in enumerate(ids) for k in range(2)])
    return home


@pytest.fixture
def teachable(prefect_harness, tmp_path):
    def run(home, *args: str, expect: int = 0):
        proc = run_cli(prefect_harness, "--home", str(home.root), *args, cwd=tmp_path, timeout=300)
        assert proc.returncode == expect, f"teachable {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
        return proc

    return run


def test_publish_flow_records_its_run_and_flow_run_id(prefect_harness, pool):
    from flows.publish import publish_flow
    from schemas.publish import PublishSettings

    result = publish_flow(name="flowmix", settings=PublishSettings(license="mit", allow_undecontaminated=True), home=str(pool.root))
    assert (result["version"], result["created"], result["rows"]) == (1, True, 16)
    with Lake(pool, read_only=True) as lake:
        run = lake.query("SELECT stage, status, flow_run_id FROM runs WHERE run_id = ?", [result["run_id"]]).to_pylist()[0]
        manifest = json.loads(lake.query("SELECT manifest FROM dataset_versions").column(0)[0].as_py())
    assert run["stage"] == "publish" and run["status"] == "completed" and run["flow_run_id"]
    assert manifest["flow_run_id"] == run["flow_run_id"] and manifest["config"]["license"] == "mit"
    again = publish_flow(name="flowmix", settings=PublishSettings(license="mit", allow_undecontaminated=True), home=str(pool.root))
    assert (again["version"], again["created"]) == (1, False)


def test_publish_then_list_show_diff_verify(teachable, pool):
    first = teachable(pool, "publish", "mix", "--license", "mit", "--shard-rows", "5",
                      "--allow-undecontaminated").stdout
    assert "published mix@v1: 16 rows" in first
    second = teachable(pool, "publish", "mix", "--license", "mit", "--shard-rows", "5", "--bands", "teachable",
                       "--mixture", "gsm8k=1", "--mixture", "math=1", "--allow-undecontaminated").stdout
    assert "published mix@v2: 8 rows" in second and "band_filter 8" in second

    listed = teachable(pool, "datasets", "list").stdout
    assert "mix" in listed and "v1" in listed and "v2" in listed and " 16 " in listed and " 8 " in listed
    shown = teachable(pool, "datasets", "show", "mix").stdout
    assert "mix@v2" in shown and "data/train-00001-of-00002.parquet" in shown and "teachable" in shown
    manifest = json.loads(teachable(pool, "datasets", "show", "mix@v1", "--json").stdout)
    assert manifest["version"] == 1 and manifest["rows"] == 16

    diff = teachable(pool, "datasets", "diff", "mix@v1", "mix@v2").stdout
    assert "rows 16 -> 8 (added 0, removed 8, changed 0, unchanged 8)" in diff
    assert "too_hard" in diff and "-8" in diff and "bands" in diff and '["teachable"]' in diff

    assert "OK mix@v1:" in teachable(pool, "datasets", "verify", "mix@v1").stdout
    card = pool.releases / "mix" / "v1" / "README.md"
    card.chmod(0o644)
    card.write_bytes(card.read_bytes().replace(b"license: mit", b"license: mia"))
    failed = teachable(pool, "datasets", "verify", "mix@v1", expect=1).stdout
    assert "FAIL mix@v1: README.md: changed" in failed and "aggregate sha256" in failed
    assert "OK mix@v2:" in teachable(pool, "datasets", "verify", "mix@v2").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datasets", "show", "nope"], "unknown dataset 'nope'"),
        (["datasets", "verify", "mix@"], "bad dataset reference"),
        (["datasets", "diff", "mix", "mix@v2"], "names no version"),
        (["publish", "bad/name"], "bad release name"),
        (["publish", "mix", "--mixture", "math"], "bad --mixture 'math'"),
        (["publish", "mix", "--bands", "easy"], "unknown band(s) easy"),
        (["publish", "mix", "--target", "math"], "bad --target 'math'"),
        (["publish", "mix"], "refusing to publish a set that is not decontaminated"),
        (["publish", "mix", "--allow-undecontaminated", "--push", "org/mix"], "no Hugging Face token: set HF_TOKEN"),
        (["datasets", "push", "mix@v1", "--repo", "org/mix"], "no Hugging Face token: set HF_TOKEN"),
        (["datasets", "push", "mix@v1", "--repo", "mix"], "bad --repo 'mix'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(pool, tmp_path, args, message):
    proc = run_cli(None, "--home", str(pool.root), *args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_publish_push_and_datasets_push_reach_the_hub_and_never_print_the_token(pool, tmp_path):
    """Without a Prefect server (the direct path); the stand-in Hub is tests/support/fake_hub.py."""
    from tests.support.fake_hub import FakeHub

    token = "hf_cli_canary_777"
    hub = FakeHub(token=token).start()
    env = {"HF_TOKEN": token, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    try:
        first = run_cli(None, "--home", str(pool.root), "publish", "mix", "--allow-undecontaminated",
                        "--push", "org/mix", "--private", cwd=tmp_path, timeout=300, **env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "pushed v1 to org/mix: 4 files uploaded, 0 unchanged" in first.stdout
        again = run_cli(None, "--home", str(pool.root), "datasets", "push", "mix@v1", "--repo", "org/mix",
                        cwd=tmp_path, timeout=300, **env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "pushed v1 to org/mix: 0 files uploaded, 4 unchanged" in again.stdout
        assert hub.repos["org/mix"].private and list(hub.repos["org/mix"].tags) == ["v1"]
        for proc in (first, again):
            assert token not in proc.stdout + proc.stderr
    finally:
        hub.stop()
