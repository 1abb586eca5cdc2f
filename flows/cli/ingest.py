"""Flows layer (cli): `teachable ingest PATH... --source NAME`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def command(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, globs, directories, hf://DATASET or procedural://?n=N&seed=S.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Source name stored on every prompt.")],
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="jsonl|json|csv|parquet|hf|procedural (default: from the extension).")] = None,
    id_field: Annotated[Optional[str], typer.Option(help="Field holding the record id (default: line/row number).")] = None,
    problem_field: Annotated[Optional[str], typer.Option(help="Problem field (default: first of problem, question, prompt, input, instruction).")] = None,
    answer_field: Annotated[Optional[str], typer.Option(help="Answer field (default: first of answer, final_answer, solution); '#### n' and \\boxed{} are extracted.")] = None,
    domain: Annotated[Optional[str], typer.Option(help="math|code|choice|open (default: the record's 'domain', else code when it has tests, choice when it has options, else math).")] = None,
    tests_field: Annotated[Optional[str], typer.Option(help="Code tests field (default: test, test_list, input_output, public_tests, public_test_cases, tests); unparseable tests are quarantined.")] = None,
    entry_point_field: Annotated[Optional[str], typer.Option(help="Function-name field of call-style code tests (default: entry_point, fn_name).")] = None,
    choices_field: Annotated[Optional[str], typer.Option(help="Options field of multiple-choice records (default: choices, options).")] = None,
    split: Annotated[str, typer.Option(help="Split, for Hugging Face datasets.")] = "train",
    hf_config: Annotated[Optional[str], typer.Option(help="Config name, for Hugging Face datasets.")] = None,
    max_problem_chars: Annotated[int, typer.Option(help="Longer problems are quarantined.")] = 20_000,
    batch_size: Annotated[int, typer.Option(help="Records per write batch (bounds memory).")] = 50_000,
) -> None:
    """Read seed records into `prompts`; unreadable ones go to `quarantine` with a reason."""
    from flows.cli.common import home_of, run_stage
    from schemas.config import IngestJob, IngestSettings, SourceSettings
    from tasks.ingest.sources import resolve_units
    from tasks.ingest.stage import prepare_workers

    config = SourceSettings(
        name=source, paths=paths, format=format, id_field=id_field, problem_field=problem_field,
        answer_field=answer_field, domain=domain, tests_field=tests_field,
        entry_point_field=entry_point_field, choices_field=choices_field, split=split, hf_config=hf_config,
    )
    settings = IngestSettings(max_problem_chars=max_problem_chars, batch_size=batch_size)
    from warehouse.home import Home

    active = Home.resolve(home_of(ctx)).root  # never read as a source, even inside a given folder
    units = resolve_units(config.paths, config.format, config.split, exclude=[active])  # fail fast
    prepare_workers(units)  # worker processes get ready while the warehouse opens

    def flow() -> dict:
        from flows.ingest import ingest_flow

        return ingest_flow(sources=[config], settings=settings, home=home_of(ctx))

    print_result(run_stage(ctx, "ingest", IngestJob(sources=[config], settings=settings), flow))


def print_result(result: dict) -> None:
    from flows.cli.console import out, print_rows

    print_rows(result["files"], title=f"ingest run {result['run_id']}")
    t = result["totals"]
    out.print(
        f"read {t['read']} = ingested {t['ingested']} + unchanged {t['unchanged']} "
        f"+ quarantined {t['quarantined']}  (snapshot {result['snapshot_id']})"
    )
