"""The real vLLM server (bundled SmolLM2, CPU build) started by `kind: local` with a reasoning
parser: the answer comes back with its reasoning in the `reasoning` field, as vLLM documents
(docs.vllm.ai features/reasoning_outputs). SmolLM2 does not think, so a regex (structured
outputs, enabled inside the reasoning by a server argument) makes it write
`reasoning </think> answer`; the `olmo3` parser splits that text without special tokens."""

import pytest

from schemas.llm import EngineSettings, LLMRequest, Message
from tasks.llm.client import LLMClient


@pytest.mark.slow
def test_real_vllm_with_a_reasoning_parser_fills_the_reasoning_field(tmp_path):
    settings = EngineSettings(
        kind="local", model="smollm2-135m-instruct", reasoning_parser="olmo3", max_concurrency=1, timeout_s=300,
        server_args=["--structured-outputs-config", '{"enable_in_reasoning": true}'],
        params={"structured_outputs": {"regex": r"I add two and three\.\n</think>\nThe answer is \\boxed\{5\}\."}},
    )
    client = LLMClient(settings, tmp_path / "cache.sqlite", run_id="r", stage="traces")
    try:
        request = LLMRequest(messages=(Message(role="user", content="What is 2 + 3?"),), max_tokens=40, temperature=0)
        sample = client.samples([request], n=1)[0][0]
    finally:
        client.close()
    assert sample is not None and sample.channel == "reasoning"
    assert sample.reasoning.strip() == "I add two and three." and sample.text.strip() == "The answer is \\boxed{5}."
