"""Log-probabilities in OpenAI's two shapes, from the engine's steps.

With `GenerationConfig.top_logprobs` set, every decoding step carries, per row, log p of the token chosen and of
the N most likely tokens under the model's own distribution log_softmax(z) (before penalties, temperature and
filters: what the model believes, not how it was sampled). A request asks for them in one of two shapes:

* /v1/completions, `"logprobs": N` (legacy): per choice {"tokens": [...], "token_logprobs": [...],
  "top_logprobs": [{token: logprob}, ...], "text_offset": [...]}: the N most likely and the chosen token at
  each position (so up to N + 1 entries), and each token's character offset from the start of the prompt;
* /v1/chat/completions, `"logprobs": true, "top_logprobs": N`: per choice {"content": [{"token", "logprob",
  "bytes", "top_logprobs": [{"token", "logprob", "bytes"}, ...]}, ...]}.

N is at most 20 (`generate.config.MAX_TOP_LOGPROBS`, OpenAI's limit), larger is a 400. One entry per generated
token, including the tokens of a stop sequence that the text leaves out.
"""

from __future__ import annotations

from ..generate import TextDelta
from ..tokenizers import Tokenizer


def _alternatives(delta: TextDelta) -> list[tuple[int, float]]:
    step, row = delta.step, delta.row
    if step.top_ids is None:
        return []
    return list(zip(step.top_ids[row].tolist(), step.top_logprobs[row].tolist()))


def _chosen(delta: TextDelta) -> float:
    return float(delta.step.logprobs[delta.row])


class ChatLogprobs:
    """A chat choice's `logprobs`: {"content": [one entry per token]}."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.content: list[dict] = []

    def _token(self, token_id: int, logprob: float) -> dict:
        return {"token": self.tokenizer.token_text(token_id), "logprob": logprob,
                "bytes": list(self.tokenizer.token_bytes(token_id))}

    def add(self, delta: TextDelta) -> dict:
        """Append one generated token; return its entry alone (a streamed chunk's `logprobs`)."""
        entry = {**self._token(delta.token_id, _chosen(delta)),
                 "top_logprobs": [self._token(i, lp) for i, lp in _alternatives(delta)]}
        self.content.append(entry)
        return {"content": [entry], "refusal": None}

    def result(self) -> dict:
        return {"content": self.content, "refusal": None}


class CompletionLogprobs:
    """A completion choice's legacy `logprobs`, token by token; `offset` follows the text (prompt first)."""

    def __init__(self, tokenizer: Tokenizer, offset: int) -> None:
        self.tokenizer, self.offset = tokenizer, offset
        self.data: dict[str, list] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}

    def add(self, delta: TextDelta) -> dict:
        """Append one generated token; return its entry alone (a streamed chunk's `logprobs`)."""
        text = self.tokenizer.token_text(delta.token_id)
        top = {self.tokenizer.token_text(i): lp for i, lp in _alternatives(delta)}
        top.setdefault(text, _chosen(delta))  # the chosen token is always there, as OpenAI's "up to N + 1"
        entry = {"tokens": [text], "token_logprobs": [_chosen(delta)], "top_logprobs": [top],
                 "text_offset": [self.offset]}
        self.offset += len(text)
        for key, values in entry.items():
            self.data[key] += values
        return entry

    def result(self) -> dict:
        return self.data


def choice_logprobs(chat: bool, tokenizer: Tokenizer, prompt_chars: int) -> ChatLogprobs | CompletionLogprobs:
    return ChatLogprobs(tokenizer) if chat else CompletionLogprobs(tokenizer, prompt_chars)
