"""Request bodies of the OpenAI-compatible API, validated by pydantic in strict mode.

Strict: a number sent as a string ("max_tokens": "10") is a wrong type, not silently converted. Ranges
follow OpenAI's (temperature 0..2, top_p in (0, 1], penalties -2..2). Lantern also accepts the common
extensions top_k, min_p and repetition_penalty (as vLLM does). Log-probabilities come in each endpoint's
own shape (completions: `logprobs: N`; chat: `logprobs: true, top_logprobs: N`; N at most 20, see logprobs.py).
Fields OpenAI defines that Lantern does not implement (echo, suffix, tools, ...) are refused with a clear 400
rather than silently ignored; unknown fields are ignored, as OpenAI does.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..generate import GenerationConfig
from ..generate.config import MAX_TOP_LOGPROBS
from .errors import ApiError
from .limits import ServeLimits


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)
    include_usage: bool = False


class SamplingRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    n: int = Field(1, ge=1)
    stop: Union[str, list[str], None] = None
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    repetition_penalty: float = Field(1.0, gt=0.0, le=10.0)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list | None = None

    def requested_logprobs(self) -> int | None:
        """None: no log-probabilities; N: each new token's and the N most likely (each endpoint asks its way)."""
        return None

    def refuse_unsupported(self) -> None:
        if self.tools:
            raise ApiError(400, "tools are not supported by this server", "unsupported", "tools")

    def stop_sequences(self, limits: ServeLimits) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > limits.max_stop:
            raise ApiError(400, f"at most {limits.max_stop} stop sequences are allowed, got {len(stop)}",
                           "invalid_value", "stop")
        if any(not 0 < len(s) <= limits.max_stop_chars for s in stop):
            raise ApiError(400, f"stop sequences must be 1..{limits.max_stop_chars} characters long",
                           "invalid_value", "stop")
        return tuple(stop)

    def new_tokens(self, limits: ServeLimits, requested: int | None) -> int:
        if requested is None:
            return min(limits.default_new_tokens, limits.max_new_tokens)
        if requested > limits.max_new_tokens:
            raise ApiError(400, f"max_tokens is {requested}, above this server's limit of {limits.max_new_tokens}",
                           "invalid_value", "max_tokens")
        return requested

    def generation_config(self, limits: ServeLimits, max_tokens: int | None = None) -> GenerationConfig:
        """The engine's config for this request (stop tokens are left for the engine to default)."""
        self.refuse_unsupported()
        return GenerationConfig(
            max_new_tokens=self.new_tokens(limits, max_tokens if max_tokens is not None else self.max_tokens),
            temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, min_p=self.min_p,
            repetition_penalty=self.repetition_penalty, presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty, stop=self.stop_sequences(limits), seed=self.seed,
            top_logprobs=self.requested_logprobs(),
        ).validate()


class CompletionRequest(SamplingRequest):
    prompt: Union[str, list[str]]
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)  # the N most likely tokens at each position

    def requested_logprobs(self) -> int | None:
        return self.logprobs

    def prompts(self) -> list[str]:
        prompts = [self.prompt] if isinstance(self.prompt, str) else self.prompt
        if not prompts or any(not p for p in prompts):
            raise ApiError(400, "prompt must be a non-empty string (or a list of them)", "invalid_value", "prompt")
        if self.echo or self.suffix:
            raise ApiError(400, "echo and suffix are not supported by this server", "unsupported")
        return prompts


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Union[str, list[TextPart], None] = None

    def as_dict(self) -> dict[str, str]:
        """The chat template's form; "developer" is OpenAI's newer name for the system prompt."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # OpenAI's newer name for max_tokens
    logprobs: bool | None = None  # true: the chosen token's log-probability at each position
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)  # ... and the N most likely tokens'

    def requested_logprobs(self) -> int | None:
        if self.top_logprobs is not None and not self.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", "invalid_value", "top_logprobs")
        return (self.top_logprobs or 0) if self.logprobs else None

    def message_dicts(self, limits: ServeLimits) -> list[dict[str, str]]:
        if len(self.messages) > limits.max_messages:
            raise ApiError(400, f"{len(self.messages)} messages, above this server's limit of {limits.max_messages}",
                           "invalid_value", "messages")
        return [m.as_dict() for m in self.messages]

    def chat_config(self, limits: ServeLimits) -> GenerationConfig:
        requested = self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens
        return self.generation_config(limits, requested)
