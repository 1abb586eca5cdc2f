"""Flows layer (cli): `teachable publish NAME` and `teachable datasets list|show|diff|verify`.

`command` builds the publish stage's settings from flags (a bad value is one line, exit 2)
and runs the stage; the `datasets` sub-commands read `dataset_versions` and the release files
directly, read-only, without Prefect. Heavy modules are imported inside the bodies.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from flows.cli.common import home_of, user_errors


def parse_mixture(items: list[str] | None) -> dict[str, float]:
    from schemas.errors import UserError

    mixture: dict[str, float] = {}
    for item in items or []:
        group, sep, weight = item.partition("=")
        try:
            if not sep or not group.strip():
                raise ValueError
            mixture[group.strip()] = float(weight)
        except ValueError:
            raise UserError(f"bad --mixture {item!r}: expected GROUP=WEIGHT, e.g. math=0.5") from None
    return mixture


def parse_targets(items: list[str] | None) -> dict[str, int]:
    from schemas.errors import UserError

    targets: dict[str, int] = {}
    for item in items or []:
        group, sep, size = item.partition("=")
        try:
            if not sep or not group.strip():
                raise ValueError
            targets[group.strip()] = int(size)
        except ValueError:
            raise UserError(f"bad --target {item!r}: expected GROUP=SIZE, e.g. math=5000") from None
    return targets


def command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Release name: written to HOME/releases/NAME/vN/.")],
    system_prompt: Annotated[Optional[str], typer.Option(help="System message of every record (default: a Phi-4-style think-then-solve prompt).")] = None,
    mixture: Annotated[Optional[list[str]], typer.Option(help="GROUP=WEIGHT: below 1 keep this share of a source (or domain), by a hash of prompt_id; above 1 up-sample (repeatable).")] = None,
    target: Annotated[Optional[list[str]], typer.Option(help="GROUP=SIZE: size wanted for a group in --target-unit, down- or up-sampled (repeatable).")] = None,
    target_unit: Annotated[str, typer.Option(help="Unit of --target: rows or tokens (student tokens).")] = "rows",
    tokenizer: Annotated[Optional[str], typer.Option(help="Student tokenizer (HF folder or id) measuring each record over its chat template (default: bundled SmolLM2).")] = None,
    max_seq_len: Annotated[Optional[int], typer.Option(help="Leave out records longer than this in student tokens (too_long_for_student).")] = None,
    push: Annotated[Optional[str], typer.Option(help="After publishing, push the release to this Hugging Face dataset repo (ORG/NAME), tagged vN; token from HF_TOKEN.")] = None,
    private: Annotated[bool, typer.Option("--private", help="With --push: create the repository private.")] = False,
    allow_undecontaminated: Annotated[bool, typer.Option("--allow-undecontaminated", help="Publish although no decontamination ran; the card and manifest say the set is NOT decontaminated.")] = False,
    mixture_by: Annotated[str, typer.Option(help="What --mixture groups name: source or domain.")] = "source",
    mixture_default: Annotated[float, typer.Option(help="Share kept of groups --mixture does not list.")] = 1.0,
    mixture_seed: Annotated[int, typer.Option(help="Salt of the mixture hash (another seed draws another subset).")] = 0,
    bands: Annotated[Optional[str], typer.Option(help="Comma-separated difficulty bands to keep, e.g. teachable,too_hard.")] = None,
    min_pass_rate: Annotated[Optional[float], typer.Option(help="Keep prompts whose base-model pass rate is at least this.")] = None,
    max_pass_rate: Annotated[Optional[float], typer.Option(help="Keep prompts whose base-model pass rate is at most this.")] = None,
    difficulty_model: Annotated[Optional[str], typer.Option(help="Base model whose difficulty rows to use (default: the only one).")] = None,
    shard_rows: Annotated[int, typer.Option(help="Records per Parquet shard.")] = 50_000,
    license: Annotated[str, typer.Option(help="License id for the dataset card (e.g. mit, cc-by-4.0).")] = "other",
    description: Annotated[Optional[str], typer.Option(help="Text at the top of the dataset card.")] = None,
) -> None:
    """Publish kept traces as an immutable, versioned Parquet release (a no-op if nothing changed)."""
    from flows.cli.common import run_stage
    from flows.cli.console import out, print_rows
    from schemas.errors import UserError
    from schemas.publish import PublishJob, PublishSettings
    from warehouse.home import Home
    from warehouse.releases import REPORT, check_name

    check_name(name)
    options: dict[str, Any] = {
        "mixture": parse_mixture(mixture), "mixture_by": mixture_by, "mixture_default": mixture_default,
        "mixture_seed": mixture_seed, "min_pass_rate": min_pass_rate, "max_pass_rate": max_pass_rate,
        "difficulty_model": difficulty_model, "shard_rows": shard_rows, "license": license, "description": description,
        "targets": parse_targets(target), "target_unit": target_unit, "tokenizer": tokenizer,
        "max_seq_len": max_seq_len, "allow_undecontaminated": allow_undecontaminated,
        "push": push, "push_private": private,
        "bands": [b.strip() for b in bands.split(",") if b.strip()] if bands is not None else None,
    }
    if system_prompt is not None:
        options["system_prompt"] = system_prompt
    settings = PublishSettings(**options)
    if settings.push:
        from tasks.publish.hub import token_from_env

        token_from_env()  # no token: one line before any work, not after the release is cut
    home = Home.resolve(home_of(ctx))
    if not home.exists():
        raise UserError(f"no warehouse at {home.root}: ingest something first")

    def flow() -> dict:
        from flows.publish import publish_flow

        return publish_flow(name=name, settings=settings, home=str(home.root))

    result = run_stage(ctx, "publish", PublishJob(name=name, **settings.model_dump()), flow)
    stats = result["stats"]
    rows = [{"by": d, "value": k, "records": v} for d in ("source", "domain", "band") for k, v in stats[f"by_{d}"].items()]
    print_rows(rows, title=f"{name}@v{result['version']}")
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "nothing"
    out.print(f"kept traces {stats['candidates']}, left out: {dropped}", highlight=False, soft_wrap=True)
    if settings.push and "push" not in result:  # run without Prefect: the flow's push task did not run
        from pathlib import Path

        from tasks.publish.hub import push_release, token_from_env

        result["push"] = push_release(Path(result["path"]), settings.push, token=token_from_env(),
                                      private=settings.push_private).as_dict()
    if result.get("push"):
        _print_push(result["push"])
    if result["created"]:
        out.print(f"published {name}@v{result['version']}: {result['rows']} rows, sha256 {result['sha256'][:12]} "
                  f"-> {result['path']}", highlight=False, soft_wrap=True)
        out.print(f"report: {result['path']}/{REPORT}", highlight=False, soft_wrap=True)
    else:
        out.print(f"unchanged: {name}@v{result['version']} already holds this content (sha256 "
                  f"{result['sha256'][:12]}); nothing written", highlight=False, soft_wrap=True)


datasets_app = typer.Typer(
    name="datasets", help="Published releases: list, show, diff and verify them.", no_args_is_help=True,
)


def _open(ctx: typer.Context):
    from warehouse.home import Home
    from warehouse.lake import Lake

    home = Home.resolve(home_of(ctx))
    return home, Lake(home, read_only=True)


@datasets_app.command("list")
@user_errors
def list_command(ctx: typer.Context) -> None:
    """Every release: name, version, rows, when it was made and its hash prefix."""
    from flows.cli.console import print_rows
    from tasks.publish.compare import listing

    home, lake = _open(ctx)
    with lake:
        print_rows(listing(lake), title=f"releases in {home.releases}")


@datasets_app.command("show")
@user_errors
def show_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME[@V]", help="Release, e.g. mathmix or mathmix@v2 (default: latest).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest as JSON.")] = False,
) -> None:
    """Manifest summary of a release: counts, drops, sources, files."""
    import sys

    from flows.cli.console import print_rows
    from tasks.publish.compare import resolve, summary

    home, lake = _open(ctx)
    with lake:
        row = resolve(lake, ref)
    if as_json:
        sys.stdout.write(row["manifest"])
        return
    for title, rows in summary(home, row).items():
        print_rows(rows, title=title)


@datasets_app.command("diff")
@user_errors
def diff_command(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(metavar="NAME@A", help="The older release, e.g. mathmix@v1.")],
    new: Annotated[str, typer.Argument(metavar="NAME@B", help="The newer release, e.g. mathmix@v2.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the difference as JSON.")] = False,
) -> None:
    """Rows added/removed/changed (by prompt_id, teacher, sample_index), counts and settings that changed."""
    from flows.cli.console import out, print_rows
    from tasks.publish.compare import diff, resolve

    home, lake = _open(ctx)
    with lake:
        a, b = resolve(lake, old, need_version=True), resolve(lake, new, need_version=True)
    result = diff(home, a, b)
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    r = result["rows"]
    out.print(f"{result['old']} -> {result['new']}: rows {result['old_rows']} -> {result['new_rows']} "
              f"(added {r['added']}, removed {r['removed']}, changed {r['changed']}, unchanged {r['unchanged']})",
              highlight=False, soft_wrap=True)
    for kind in ("added", "removed", "changed"):
        if r["examples"][kind]:
            print_rows(r["examples"][kind], title=f"{kind} (first {len(r['examples'][kind])})")
    for key in ("counts", "settings", "sources", "files"):
        if result[key]:
            print_rows(result[key], title=f"{key} that changed")
        else:
            out.print(f"{key} that changed: none")


@datasets_app.command("verify")
@user_errors
def verify_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME@V", help="Release to check, e.g. mathmix@v1.")],
) -> None:
    """Recompute every file's sha256 and the aggregate; exit 1 naming each changed, missing or extra file.

    report.html is not checked: a derived view, regenerated with `teachable report NAME@V`."""
    from flows.cli.console import out
    from tasks.publish.compare import resolve, verify

    home, lake = _open(ctx)
    with lake:
        row = resolve(lake, ref, need_version=True)
    problems = verify(home, row)
    label = f"{row['name']}@v{row['version']}"
    for problem in problems:
        out.print(f"FAIL {label}: {problem}", highlight=False, soft_wrap=True, markup=False)
    if problems:
        out.print(f"{label}: {len(problems)} problem(s)", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    files = len(json.loads(row["manifest"])["files"]) + 1
    out.print(f"OK {label}: {files} files, {row['rows']} rows, sha256 {row['sha256']}", highlight=False, soft_wrap=True)


def _print_push(pushed: dict) -> None:
    from flows.cli.console import out

    out.print(f"pushed {pushed['tag']} to {pushed['repo']}: {len(pushed['uploaded'])} files uploaded, "
              f"{len(pushed['unchanged'])} unchanged, commit {pushed['commit'][:12]}", highlight=False, soft_wrap=True)


@datasets_app.command("push")
@user_errors
def push_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME@V", help="Release to push, e.g. mathmix@v2.")],
    repo: Annotated[str, typer.Option(help="Hugging Face dataset repository, ORG/NAME.")],
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
) -> None:
    """Upload a release (shards, card, manifest, report) to the Hub and tag the commit vN; token from HF_TOKEN."""
    from tasks.publish.compare import resolve
    from tasks.publish.hub import check_repo, push_release, token_from_env
    from warehouse.releases import version_dir

    check_repo(repo)
    token = token_from_env()
    home, lake = _open(ctx)
    with lake:
        row = resolve(lake, ref, need_version=True)
    _print_push(push_release(version_dir(home, row["name"], row["version"]), repo, token=token,
                             private=private).as_dict())
