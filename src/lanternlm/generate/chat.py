"""The chat template: how a conversation (system prompt, user and assistant turns) becomes one token sequence.

One template, ChatML-style. Each turn is a header naming the role, the content, and an end-of-turn marker:

    <|im_start|>system\\nYou are terse.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n

A prompt ends with the assistant header, so the model continues as the assistant and stops when it emits
the end-of-turn marker. When the tokenizer has `<|im_start|>` and `<|im_end|>` as special tokens (chat
fine-tuning adds them), each marker is one token id that user text can never forge. Otherwise the same
structure is spelled in plain text that any tokenizer can encode, like the speaker lines of a play:
"USER:\\nHi\\n\\nASSISTANT:\\n", with "\\n\\n" ending a turn.

`render` also marks which tokens are the assistant's (its content and end marker, not the header): chat
fine-tuning puts the loss on those tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LanternError
from ..tokenizers import Tokenizer

ROLES = ("system", "user", "assistant")
IM_START, IM_END = "<|im_start|>", "<|im_end|>"


@dataclass(frozen=True)
class ChatTemplate:
    header: str  # "{role}" / "{ROLE}" are replaced by the role name
    end: str  # end-of-turn marker: what the assistant emits when its turn is over
    separator: str = ""  # between the end marker and the next header (not part of the assistant's tokens)

    def header_for(self, role: str) -> str:
        return self.header.format(role=role, ROLE=role.upper())


CHATML = ChatTemplate(header=IM_START + "{role}\n", end=IM_END, separator="\n")
PLAIN = ChatTemplate(header="{ROLE}:\n", end="\n\n")


def template_for(tokenizer: Tokenizer) -> ChatTemplate:
    """ChatML with special-token markers when the tokenizer has them, else the plain-text spelling."""
    return CHATML if {IM_START, IM_END} <= tokenizer.special_tokens.keys() else PLAIN


@dataclass
class RenderedChat:
    ids: list[int]
    assistant_mask: list[bool]  # True where the token is the assistant's (train on these)
    text: str


def encode_with_specials(tokenizer: Tokenizer, text: str) -> list[int]:
    """Encode text, mapping the template's markers to their special-token ids where the tokenizer has them."""
    specials = {m: tokenizer.special_tokens[m] for m in (IM_START, IM_END) if m in tokenizer.special_tokens}
    ids: list[int] = []
    while text:
        hits = [(text.find(m), m) for m in specials if m in text]
        if not hits:
            return ids + tokenizer.encode(text)
        at, marker = min(hits)
        ids += (tokenizer.encode(text[:at]) if at else []) + [specials[marker]]
        text = text[at + len(marker):]
    return ids


def render(messages: list[dict[str, str]], tokenizer: Tokenizer, template: ChatTemplate | None = None,
           add_generation_prompt: bool = True) -> RenderedChat:
    """Messages ({"role", "content"} dicts; an optional system message first) -> ids, assistant mask, text.

    User content is encoded as ordinary text: a user typing "<|im_end|>" gets characters, not the marker."""
    template = template or template_for(tokenizer)
    ids: list[int] = []
    mask: list[bool] = []
    text = ""

    def add(piece: str, is_assistant: bool, markers: bool) -> None:
        nonlocal text
        new = encode_with_specials(tokenizer, piece) if markers else tokenizer.encode(piece)
        ids.extend(new)
        mask.extend([is_assistant] * len(new))
        text += piece

    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise LanternError(f"message {i}: needs a role in {ROLES} and text content, got {message!r}")
        if role == "system" and i:
            raise LanternError("only the first message may be the system prompt")
        assistant = role == "assistant"
        add(template.header_for(role), False, True)
        if content:
            add(content, assistant, False)
        add(template.end, assistant, True)
        if template.separator:
            add(template.separator, False, True)
    if add_generation_prompt:
        add(template.header_for("assistant"), False, True)
    return RenderedChat(ids, mask, text)


def stop_for(tokenizer: Tokenizer, template: ChatTemplate) -> dict:
    """Generation options that end the assistant's turn: the end marker as a stop token or stop sequence."""
    if template.end in tokenizer.special_tokens:
        return {"stop_tokens": (tokenizer.special_tokens[template.end],), "stop": ()}
    return {"stop": (template.end,)}


def fit_to_context(messages: list[dict[str, str]], tokenizer: Tokenizer, budget: int,
                   template: ChatTemplate | None = None) -> list[int]:
    """Prompt ids of at most `budget` tokens: drop the oldest turns (never the system prompt) until it fits,
    and if the newest turn alone is still too long, keep its last `budget` tokens."""
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = messages[len(system):]
    while True:
        ids = render(system + turns, tokenizer, template).ids
        if len(ids) <= budget or len(turns) <= 1:
            return ids[-budget:]
        turns = turns[1:]
