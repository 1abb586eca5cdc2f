"""Tasks layer (publish): the Hugging Face dataset card (`README.md`) of a release.

The card is a pure function of the release's content, its settings and source lineage: no
dates, version numbers or code versions (those live in manifest.json), so publishing the same
thing twice yields the same card and the same aggregate hash. Its YAML front matter declares
`configs`/`data_files`, which both the Hub and `datasets.load_dataset` read.
"""

from __future__ import annotations

import yaml

from schemas.publish import RELEASE_SCHEMA, PublishSettings
from tasks.publish.checked import card_lines

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"))


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZES if rows < limit), "10M<n<100M")


def features() -> list[dict]:
    """The release schema as the Hub's `dataset_info.features` (what its viewer shows)."""
    from datasets import Features

    return Features.from_arrow_schema(RELEASE_SCHEMA)._to_yaml_list()


def source_datasets(lineage: list[dict]) -> list[str]:
    """Hugging Face dataset ids the seeds came from (files read from disk are in the Sources table)."""
    ids = {s["source_file"].removeprefix("hf://").split("@")[0] for s in lineage
           if (s.get("format") == "hf" or str(s["source_file"]).startswith("hf://")) and s["source_file"]}
    return sorted(ids)


def front_matter(name: str, settings: PublishSettings, rows: int, lineage: list[dict] | None = None) -> str:
    """YAML metadata through huggingface_hub's DatasetCardData, the fields the Hub displays."""
    from huggingface_hub import DatasetCardData

    meta = DatasetCardData(
        language=settings.language, license=settings.license, license_name=settings.license_name,
        license_link=settings.license_link, pretty_name=name, size_categories=[size_category(rows)],
        source_datasets=source_datasets(lineage or []) or None, task_categories=["text-generation"],
        tags=["reasoning", "sft", "chat", "teachable"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
        dataset_info={"features": features(), "splits": [{"name": "train", "num_examples": rows}]},
    )
    return "---\n" + meta.to_yaml() + "\n---\n"


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _counts(title: str, counts: dict[str, int]) -> list[str]:
    return [f"**By {title}**", "", *_table((title, "records"), sorted(counts.items())), ""]


def render_card(name: str, settings: PublishSettings, stats: dict, lineage: list[dict],
                decontamination: dict | None = None) -> str:
    filters = settings.model_dump(mode="json", exclude={"system_prompt", "description", "license", "license_name",
                                                        "license_link", "language", "push", "push_private"})
    checked = bool(decontamination) and decontamination.get("status") != "skipped"
    lines = [front_matter(name, settings, stats["rows"], lineage), f"# {name}", "", *card_lines(decontamination)]
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
        f"License: {settings.license}" + (f" ({settings.license_name}, {settings.license_link})"
                                           if settings.license_name or settings.license_link else "") + ".",
        "",
    ]
    return "\n".join(lines)
