"""Flows layer (cli): `teachable check-engine`, the preflight of an endpoint before money is spent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def command(
    engine: Annotated[str, typer.Option(help="openai (any compatible endpoint) or local (bundled vLLM server).")] = "openai",
    model: Annotated[Optional[str], typer.Option(help="Model name as the endpoint knows it.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible base URL (default: OpenAI's).")] = None,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    reasoning: Annotated[Optional[bool], typer.Option("--reasoning/--no-reasoning", help="Force the OpenAI reasoning-model dialect on or off (default: by model name).")] = None,
    reasoning_effort: Annotated[Optional[str], typer.Option(help="reasoning_effort for reasoning models.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Check every engine of this pipeline config instead.")] = None,
    teacher: Annotated[bool, typer.Option(help="Refuse, as the traces stage does, a model whose reasoning is hidden.")] = False,
) -> None:
    """Probe an endpoint with a few tiny requests: dialect, visible reasoning and its channel,
    whether n > 1 is honoured, context length, and whether a price is known."""
    from flows.cli.console import print_rows
    from schemas.llm import EngineSettings

    if config is not None:
        from schemas.config import load_config
        from tasks.llm.local_engine import engines_in

        engines = list({e.model_dump_json(): e for e in engines_in(load_config(config))}.values())
    elif not model:
        raise typer.BadParameter("name the model with --model (or give --config)")
    else:
        engines = [EngineSettings(kind=engine, model=model, base_url=base_url, api_key_env=api_key_env,
                                  reasoning=reasoning, reasoning_effort=reasoning_effort)]
    for settings in engines:
        found = _probe(settings)
        print_rows([{"check": k, "found": v} for k, v in found.as_dict().items()], title=f"engine {settings.model}")
        if teacher:
            from tasks.llm.preflight import require_visible_reasoning

            require_visible_reasoning(found)


def _probe(settings):
    from schemas.errors import UserError
    from tasks.llm.client import make_engine
    from tasks.llm.openai_engine import OpenAIEngine
    from tasks.llm.preflight import probe

    engine = make_engine(settings)
    try:
        if not isinstance(engine, OpenAIEngine):
            raise UserError(f"{settings.model}: kind {settings.kind} runs in-process; there is no endpoint to probe")
        return probe(engine)
    finally:
        engine.close()
