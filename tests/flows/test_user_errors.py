"""User errors are one line on stderr and exit 2, whatever text they quote."""

from pathlib import Path

from tests.support.cli import run_cli


def test_error_text_that_looks_like_rich_markup_is_printed_as_text(tmp_path: Path):
    # A config key is user input: rich must not parse "[/red]" in it as a closing tag
    # (before the fix: rich.errors.MarkupError and a traceback).
    config = tmp_path / "bad.yaml"
    config.write_text('name: x\nsources:\n  - name: a\n    paths: ["a.jsonl"]\n"[/red]": 1\n"[bold]x": 2\n')
    proc = run_cli(None, "--home", str(tmp_path / "home"), "run", str(config), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    assert lines[0].startswith("error: ") and "[/red]" in lines[0]


def test_user_error_inside_a_flow_is_one_line_and_its_traceback_stays_in_the_run_logs(prefect_harness, tmp_path: Path):
    import re

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    config = tmp_path / "missing.yaml"
    config.write_text(f'name: x\nsources:\n  - name: a\n    paths: ["{tmp_path}/missing.jsonl"]\n')
    proc = run_cli(prefect_harness, "--home", str(tmp_path / "home"), "run", str(config), "--stages", "ingest",
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    terminal = proc.stdout + proc.stderr
    # Before: two Prefect tracebacks (task run, subflow, flow) and three "Failed" lines before it.
    assert "Traceback" not in terminal and "UserError" not in terminal, terminal
    errors = [line for line in terminal.splitlines() if "missing.jsonl" in line]
    assert errors == [f"error: no such file: {tmp_path}/missing.jsonl"], terminal

    run_ids = re.findall(r"/runs/flow-run/([0-9a-f-]{36})", terminal)
    assert run_ids, terminal
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
    kept = "\n".join(log.message for log in logs)
    assert "Traceback" in kept and "UserError" in kept and "missing.jsonl" in kept
