"""Tasks layer (llm): the `local` engine, the bundled vLLM server started for one stage.

Converts SmolLM2-135M-Instruct once (tasks.llm.local_model), starts the OpenAI-compatible
server on a free loopback port, and talks to it through the `openai` engine, so the demo and
ad-hoc runs need no endpoint. Stopped in `close()`; start-up is about 100 s on 2 CPU cores.
"""

from __future__ import annotations

from schemas.llm import EngineSettings
from tasks.llm.local_model import LocalModelServer, ServerConfig, ensure_local_model
from tasks.llm.openai_engine import OpenAIEngine


class LocalServerEngine(OpenAIEngine):
    name = "local"

    def __init__(self, settings: EngineSettings):
        self.server = LocalModelServer(ServerConfig(model=str(ensure_local_model()), served_name=settings.model))
        self.server.start()
        super().__init__(settings.model_copy(update={"base_url": self.server.base_url}))

    def close(self) -> None:
        self.server.stop()
