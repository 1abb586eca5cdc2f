"""Flows layer (runtime): API keys from Prefect Secret blocks (`api_key_secret: NAME`).

A worker gets its keys from the Prefect server it already talks to instead of environment
variables handed to it out of band. The key is read inside the flow run, on the worker, and
goes only to the engine (tasks.stage.StageContext.api_keys): flow-run parameters, `runs.params`
and logs carry the block's name, never its value.
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas.errors import UserError


def secret_names(settings: BaseModel) -> list[str]:
    if "api_key_secret" not in settings.model_dump_json(exclude_none=True):
        return []  # no engine names a block: skip loading the engines (the OpenAI SDK import takes seconds)
    from tasks.llm.local_engine import engines_in

    return sorted({e.api_key_secret for e in engines_in(settings) if e.api_key_secret})


def api_keys_for(settings: BaseModel) -> dict[str, str]:
    """Block name -> key for every engine in `settings` that names a Secret block; a missing
    block or an empty value is one line, before any request."""
    names = secret_names(settings)
    if not names:
        return {}
    from prefect.blocks.system import Secret

    keys: dict[str, str] = {}
    for name in names:
        try:
            value = Secret.load(name).get()
        except ValueError:
            raise UserError(f"no Prefect Secret block named {name!r} (api_key_secret): create it with "
                            f"`prefect block create secret` or Secret(value=...).save({name!r})") from None
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"Prefect Secret block {name!r} (api_key_secret) holds no API key string")
        keys[name] = value.strip()
    return keys


def refuse_without_server(settings: BaseModel) -> None:
    """The direct (no Prefect) path has no server to read a Secret block from: say so in one line."""
    if names := secret_names(settings):
        raise UserError(f"api_key_secret {', '.join(names)} is a Prefect Secret block: set PREFECT_API_URL to the "
                        "server that holds it (or use api_key_env)")
