"""Chat prompts for generation: a conversation -> prompt ids that fit the context, and the stops of a turn.

The template itself (`render`, the assistant mask, ChatML or plain spelling) is `tokenizers/chat_template.py`,
shared with chat fine-tuning; this module fits a conversation into the model's context for a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..tokenizers import Tokenizer
from ..tokenizers.chat_template import (  # noqa: F401
    CHATML,
    IM_END,
    IM_START,
    PLAIN,
    ROLES,
    ChatTemplate,
    RenderedChat,
    check_messages,
    encode_with_specials,
    generation_prompt,
    render,
    render_turn,
    template_for,
)
from .config import GenerationConfig


def fit_to_context(messages: list[dict[str, str]], tokenizer: Tokenizer, budget: int,
                   template: ChatTemplate | None = None) -> list[int]:
    """Prompt ids of at most `budget` tokens: drop the oldest turns (never the system prompt) until it fits,
    and if the newest turn alone is still too long, keep its last `budget` tokens. Each turn is encoded once,
    so a long history costs time linear in its length."""
    check_messages(messages)
    template = template or template_for(tokenizer)
    system = [render_turn(m, tokenizer, template).ids for m in messages[:1] if m["role"] == "system"]
    turns = [render_turn(m, tokenizer, template).ids for m in messages[len(system):]]
    tail = generation_prompt(tokenizer, template).ids
    fixed = sum(map(len, system)) + len(tail)
    kept = sum(map(len, turns))
    first = 0
    while fixed + kept > budget and first < len(turns) - 1:  # drop the oldest turn
        kept -= len(turns[first])
        first += 1
    ids = [i for part in system + turns[first:] + [tail] for i in part]
    return ids[-budget:]


@dataclass
class ChatPrompt:
    """A conversation ready for the engine: the prompt ids, and what ends the assistant's turn."""

    ids: list[int]
    stop: tuple[str, ...]  # stop sequences (the end marker spelled in text, for tokenizers without it)
    stop_tokens: tuple[int, ...]  # the end marker as a token, and the tokenizer's end-of-text token

    def settings(self, config: GenerationConfig) -> GenerationConfig:
        """`config` with this turn's stops added (config was validated where it entered)."""
        return replace(config, stop=config.stop + self.stop, stop_tokens=self.stop_tokens)


def chat_prompt(messages: list[dict[str, str]], tokenizer: Tokenizer, block_size: int, max_new_tokens: int,
                max_prompt_tokens: int | None = None) -> ChatPrompt:
    """The one chat path (the CLI REPL and /v1/chat/completions): messages -> prompt ids that leave room for a
    reply of max_new_tokens (but at least half the context is history), and the stops that end the turn."""
    template = template_for(tokenizer)
    budget = max(block_size - max_new_tokens, block_size // 2)
    if max_prompt_tokens is not None:
        budget = min(budget, max_prompt_tokens)
    ids = fit_to_context(messages, tokenizer, budget, template)
    eot = () if tokenizer.eot_id is None else (tokenizer.eot_id,)
    if template.end in tokenizer.special_tokens:
        return ChatPrompt(ids, (), (tokenizer.special_tokens[template.end],) + eot)
    return ChatPrompt(ids, (template.end,), eot)
