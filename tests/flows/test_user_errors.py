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
