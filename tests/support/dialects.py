"""Test utility: what each real endpoint refuses and how it shapes an answer, as documented.

- `openai_reasoning` (o1/o3/o4-mini/gpt-5): `max_tokens` is refused with HTTP 400
  {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use
  'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens",
  "code": "unsupported_parameter"}; a temperature or top_p other than 1 with {"message":
  "Unsupported value: 'temperature' does not support 0.8 with this model. Only the default (1)
  value is supported.", "param": "temperature", "code": "unsupported_value"}. The reasoning is
  never returned: only `usage.completion_tokens_details.reasoning_tokens` counts it
  (platform.openai.com/docs/guides/reasoning; the error bodies as reported verbatim in
  github.com/teilomillet/gollm/issues/33 and microsoft/vscode-copilot-release/issues/8065).
- `deepseek` (deepseek-reasoner, api-docs.deepseek.com/guides/reasoning_model): answer in
  `content`, chain of thought in `reasoning_content`; temperature/top_p/presence_penalty/
  frequency_penalty accepted without effect; `logprobs`/`top_logprobs` are an error.
- `vllm_parser` (vLLM >= 0.10 with --reasoning-parser, docs.vllm.ai features/reasoning_outputs):
  reasoning in `reasoning` ("reasoning used to be called reasoning_content").
- `vllm_parser_old` (vLLM 0.7-0.9): the same in `reasoning_content`.
- `r1_template`: an R1-distill/QwQ served without a parser; its chat template ends the prompt
  with `<think>\\n`, so the text is `reasoning </think> answer` with no opening tag.
- `inline`: the model writes `<think>…</think> answer` itself.
- `chat`: anything goes (the permissive server the other tests were written against).
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"
DIALECTS = ("chat", "openai_reasoning", "deepseek", "vllm_parser", "vllm_parser_old", "r1_template", "inline")


def refusal(dialect: str, body: dict) -> dict | None:
    """The error object the provider answers this body with (HTTP 400), or None."""
    if dialect == "openai_reasoning":
        if "max_tokens" in body:
            return {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                               "Use 'max_completion_tokens' instead.", "type": "invalid_request_error",
                    "param": "max_tokens", "code": "unsupported_parameter"}
        for name in ("temperature", "top_p"):
            if name in body and body[name] != 1:
                return {"message": f"Unsupported value: '{name}' does not support {body[name]} with this model. "
                                   "Only the default (1) value is supported.", "type": "invalid_request_error",
                        "param": name, "code": "unsupported_value"}
        if body.get("reasoning_effort") not in (None, "minimal", "low", "medium", "high"):
            return {"message": "Invalid value for 'reasoning_effort'.", "type": "invalid_request_error",
                    "param": "reasoning_effort", "code": "invalid_value"}
    if dialect == "deepseek":
        for name in ("logprobs", "top_logprobs"):
            if name in body:
                return {"message": f"{name} is not supported with deepseek-reasoner", "type": "invalid_request_error",
                        "param": name, "code": "invalid_request_error"}
    if dialect != "openai_reasoning" and "max_completion_tokens" in body and dialect == "deepseek":
        return {"message": "Unrecognized request argument supplied: max_completion_tokens",
                "type": "invalid_request_error", "param": None, "code": None}
    return None


def split(content: str, index: int) -> tuple[str, str]:
    """(reasoning, answer) of a scripted answer; one without a think block gets a stock reasoning."""
    if OPEN in content and CLOSE in content:
        before, rest = content.split(OPEN, 1)
        reasoning, answer = rest.split(CLOSE, 1)
        return reasoning.strip(), (before + answer).strip()
    return f"reasoning {index}", content


def shape(dialect: str, message: dict, index: int) -> dict:
    if dialect == "chat":
        return message
    reasoning, answer = split(message["content"], index)
    shaped = {"role": "assistant"}
    if dialect == "openai_reasoning":
        return {**shaped, "content": answer}
    if dialect == "deepseek" or dialect == "vllm_parser_old":
        return {**shaped, "content": answer, "reasoning_content": reasoning}
    if dialect == "vllm_parser":
        return {**shaped, "content": answer, "reasoning": reasoning}
    if dialect == "r1_template":
        return {**shaped, "content": f"{reasoning}\n{CLOSE}\n\n{answer}"}
    return {**shaped, "content": f"{OPEN}\n{reasoning}\n{CLOSE}\n\n{answer}"}
