"""The whole pipeline on 100 prompts with the real SmolLM2 server as base model, rewriter and
teacher, through `teachable run` (the curate flow): every stage reconciles, v1 verifies and
loads with `datasets`, a second publish with a new filter gives v2 and `diff` shows it."""

import json

import pytest
import yaml

pytestmark = pytest.mark.slow


def config(server, tmp_path):
    engine = {"kind": "openai", "base_url": server.base_url, "model": server.model_name}
    data = {
        "name": "e2e",
        "sources": [{"name": "procedural", "paths": ["procedural://?n=100&seed=11&levels=1-2"]}],
        "difficulty": {"base": engine, "n": 2, "max_tokens": 96},
        "rewrite": {"rewriter": engine, "attempts": 2, "max_tokens": 256},
        "traces": {"teacher": engine, "k": 2, "max_tokens": 160, "allow_answer_only": True,
                   "bands": ["teachable", "too_easy", "too_hard"]},
        "publish": {"license": "mit", "allow_undecontaminated": True},
    }
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def stats(cli, home) -> dict:
    proc = cli("--home", str(home.root), "sql", "SELECT stage, stats FROM runs ORDER BY started_at", "--format", "json")
    return {row["stage"]: json.loads(row["stats"]) for row in json.loads(proc.stdout)}


def mixture_seed_that_splits(cli, home) -> int:
    """A mixture seed for which weight 0.5 keeps some, but not all, of the kept prompts."""
    from tasks.publish.assemble import mixture_share

    proc = cli("--home", str(home.root), "sql", "SELECT DISTINCT prompt_id FROM traces WHERE status = 'kept'",
               "--format", "json")
    ids = [r["prompt_id"] for r in json.loads(proc.stdout)]
    assert len(ids) >= 2, "need two kept prompts to show a mixture filter"
    for seed in range(1000):
        kept = sum(mixture_share(i, seed) < 0.5 for i in ids)
        if 0 < kept < len(ids):
            return seed
    raise AssertionError("no mixture seed splits the kept prompts")


def test_pipeline_end_to_end(local_llm_server, teachable_cli, home, tmp_path):
    cfg = config(local_llm_server, tmp_path)
    run = teachable_cli("--home", str(home.root), "run", str(cfg))
    assert "dataset card:" in run.stdout
    s = stats(teachable_cli, home)
    assert list(s) == ["ingest", "dedup", "rewrite", "difficulty", "traces", "publish"]

    ingest = s["ingest"]["totals"]
    assert ingest["read"] == 100 == ingest["ingested"] + ingest["unchanged"] + ingest["quarantined"]
    dedup = s["dedup"]
    assert dedup["considered"] == dedup["kept"] + sum(dedup["dropped"].values())
    difficulty = s["difficulty"]
    assert difficulty["considered"] == (sum(difficulty["bands"].values()) + difficulty["pending"]
                                        + difficulty["unlabelled"])
    assert difficulty["considered"] == dedup["kept"]
    rewrite = s["rewrite"]
    assert rewrite["candidates"] == rewrite["accepted"] + sum(rewrite["rejected"].values())
    assert rewrite["why_rewritten"].get("proof", 0) >= 1  # the generator's proof problems
    traces = s["traces"]
    assert traces["responses"] == traces["kept"] + sum(traces["dropped"].values())
    assert traces["responses"] == 2 * (traces["prompts"] - traces["incomplete"])
    assert traces["kept"] >= 1, traces
    publish = s["publish"]["stats"]
    assert publish["candidates"] == publish["rows"] + sum(publish["dropped"].values())
    assert publish["rows"] == traces["kept"]

    home_arg = ("--home", str(home.root))
    teachable_cli(*home_arg, "datasets", "verify", "e2e@1")
    release = home.releases / "e2e" / "v1"
    import datasets

    loaded = datasets.load_dataset("parquet", data_dir=str(release / "data"), split="train")
    assert loaded.num_rows == publish["rows"]
    roles = [m["role"] for m in loaded[0]["messages"]]
    assert roles == ["system", "user", "assistant"] and loaded[0]["messages"][2]["content"].startswith("<think>")

    again = teachable_cli(*home_arg, "run", str(cfg), "--stages", "publish")
    assert "unchanged" in again.stdout  # same content: no new version
    seed = mixture_seed_that_splits(teachable_cli, home)
    teachable_cli(*home_arg, "publish", "e2e", "--mixture", "procedural=0.5", "--mixture-seed", str(seed),
                  "--allow-undecontaminated")
    versions = teachable_cli(*home_arg, "sql", "SELECT version, rows FROM dataset_versions WHERE name = 'e2e' "
                             "ORDER BY version", "--format", "json").stdout
    v1, v2 = json.loads(versions)
    assert (v1["version"], v2["version"]) == (1, 2) and 0 < v2["rows"] < v1["rows"]
    assert "e2e" in teachable_cli(*home_arg, "datasets", "list").stdout
    diff = teachable_cli(*home_arg, "datasets", "diff", "e2e@1", "e2e@2").stdout
    assert "removed" in diff and "mixture" in diff
    teachable_cli(*home_arg, "datasets", "verify", "e2e@1")
    teachable_cli(*home_arg, "datasets", "verify", "e2e@2")
