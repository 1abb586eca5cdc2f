"""Tasks layer (publish): the Hugging Face dataset card (`README.md`) of a release.

The card is a pure function of the release's content, its settings and source lineage: no
dates, version numbers or code versions (those live in manifest.json), so publishing the same
thing twice yields the same card and the same aggregate hash. Its YAML front matter declares
`configs`/`data_files`, which both the Hub and `datasets.load_dataset` read.
"""

from __future__ import annotations

import yaml

from schemas.publish import PublishSettings
from tasks.publish.checked import card_lines

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"))


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZES if rows < limit), "10M<n<100M")


def front_matter(name: str, settings: PublishSettings, rows: int) -> str:
    meta = {
        "license": settings.license,
        "pretty_name": name,
        "task_categories": ["text-generation"],
        "tags": ["reasoning", "sft", "chat", "teachable"],
        "size_categories": [size_category(rows)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _counts(title: str, counts: dict[str, int]) -> list[str]:
    return [f"**By {title}**", "", *_table((title, "records"), sorted(counts.items())), ""]


def render_card(name: str, settings: PublishSettings, stats: dict, lineage: list[dict],
                decontamination: dict | None = None) -> str:
    filters = settings.model_dump(mode="json", exclude={"system_prompt", "description", "license"})
    checked = bool(decontamination) and decontamination.get("status") != "skipped"
    lines = [front_matter(name, settings, stats["rows"]), f"# {name}", "", *card_lines(decontamination)]
    if settings.description:
        lines += [settings.description.strip(), ""]
    lines += [
        "Supervised fine-tuning records for reasoning models, built by "
        "teachable in the style of the Phi-4-reasoning report: seed prompts "
        "were ingested, deduplicated, "
        + ("decontaminated against public benchmarks, " if checked else "(NOT decontaminated), ")
        + "scored for difficulty by a base model, optionally rewritten, and answered by a teacher model "
        "whose traces were verified against reference answers. Only kept (verified) traces are here.",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("parquet", data_dir="PATH/TO/THIS/FOLDER")["train"]',
        "",
        "import duckdb",
        "duckdb.sql(\"SELECT source, count(*) FROM read_parquet('PATH/TO/THIS/FOLDER/data/*.parquet') GROUP BY 1\")",
        "```",
        "",
        "## Record format",
        "",
        *_table(("column", "meaning"), [
            ("messages", "chat: system prompt, user problem, assistant `<think>\\nreasoning\\n</think>\\n\\nsolution`"),
            ("prompt_id", "stable id of the seed prompt in the teachable warehouse"),
            ("source / domain", "seed source name and domain"),
            ("difficulty", "base-model pass rate and band (too_easy, teachable, too_hard, ambiguous), if scored"),
            ("tokens", "teacher completion tokens of the trace"),
            ("student_tokens", "length of the whole record over the student tokenizer's chat template"),
            ("repeat", "0; n for the n-th repeat of a record the mixture up-sampled"),
            ("teacher / sample_index", "teacher model and which of its samples this is"),
            ("rewritten", "true when the user turn is an accepted rewrite of the seed problem"),
        ]),
        "",
        "System prompt of every record:",
        "",
        "```text",
        settings.system_prompt,
        "```",
        "",
        "## Contents",
        "",
        f"{stats['rows']} records over {stats['prompts']} prompts ({stats['rewritten_rows']} records use a "
        f"rewritten problem), {stats['tokens']} teacher tokens in all.",
        "",
        *_counts("source", stats["by_source"]),
        *_counts("domain", stats["by_domain"]),
        *_counts("band", stats["by_band"]),
        *_counts("teacher", stats["by_teacher"]),
        "## Sources",
        "",
        *_table(("source", "file", "format", "sha256"), [
            (s["source"], s["source_file"], s["format"] or "-", s["content_sha256"] or "-") for s in lineage
        ]),
        "",
        "## Filters",
        "",
        f"Of {stats['candidates']} kept traces, {sum(stats['dropped'].values())} were left out"
        + (":" if not stats.get("added") else
           " and up-sampling added " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in stats["added"].items()) + ":"),
        "",
        *_table(("reason", "records"), sorted(stats["dropped"].items()) or [("-", 0)]),
        "",
        "Publish settings:",
        "",
        "```yaml",
        yaml.safe_dump(filters, sort_keys=True).rstrip(),
        "```",
        "",
        "## Provenance",
        "",
        "`manifest.json` beside this card records the code version, the Prefect flow run, the "
        "DuckLake snapshot the records were read from, per-stage counts and drop reasons of the "
        "whole pipeline, and the sha256 of every file; `teachable datasets verify NAME@vN` "
        "checks them.",
        "",
        f"License: {settings.license}.",
        "",
    ]
    return "\n".join(lines)
