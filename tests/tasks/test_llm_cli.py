"""`teachable check-engine` and `--dry-run` as a user runs them (subprocess, no Prefect server)."""

from schemas.config import load_config
from tasks.stage import run_recorded, stage
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.oracle import oracle, pipeline_config, procedural_answers

SPEC = "procedural://?n=8&seed=2&levels=1-2"


def answer(messages, index):
    return "<think>Two and three make five.</think> The answer is \\boxed{5}."


def test_check_engine_reports_dialect_channel_n_and_context(tmp_path):
    with FakeOpenAI(answer, dialect="vllm_parser", context_length=32768) as fake:
        proc = run_cli(None, "check-engine", "--model", "fake", "--base-url", fake.base_url, "--teacher", cwd=tmp_path,
                       timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for expected in ("chat", "visible (reasoning)", "honoured", "32768", "unknown (set prices:)"):
        assert expected in proc.stdout
    assert len(fake.requests) == 1


def test_check_engine_refuses_a_hidden_reasoning_teacher_in_one_line(tmp_path):
    with FakeOpenAI(answer, dialect="openai_reasoning") as fake:
        proc = run_cli(None, "check-engine", "--model", "o4-mini", "--base-url", fake.base_url, "--teacher",
                       cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "hides its reasoning" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "reasoning" in proc.stdout and len(fake.requests) == 1


def test_run_dry_run_sends_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    with FakeOpenAI(oracle(procedural_answers(SPEC))) as fake:
        config = pipeline_config(tmp_path / "cfg.yaml", fake.base_url, SPEC)
        pipeline = load_config(config)
        for name in ("ingest", "dedup"):
            run_recorded(name, stage(name).settings_of(pipeline), str(home))
        before = sorted(p.relative_to(home) for p in home.rglob("*"))
        proc = run_cli(None, "--home", str(home), "run", str(config), "--dry-run", cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert fake.requests == []
    assert "dry run: nothing sent, nothing written" in proc.stdout and "difficulty" in proc.stdout
    # difficulty: 8 prompts, n in one request each; rewrite: the one prompt its rules send to the rewriter
    assert "requests 9, estimated cost unknown" in proc.stdout and "rewrite" in proc.stdout
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
