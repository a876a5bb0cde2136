"""The chat template: how a conversation (system prompt, user and assistant turns) becomes one token sequence.

One template, ChatML-style. Each turn is a header naming the role, the content, and an end-of-turn marker:

    <|im_start|>system\\nYou are terse.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n

A prompt ends with the assistant header, so the model continues as the assistant and stops when it emits
the end-of-turn marker. When the tokenizer has `<|im_start|>` and `<|im_end|>` as special tokens (chat
fine-tuning adds them), each marker is one token id that user text can never forge. Otherwise the same
structure is spelled in plain text that any tokenizer can encode, like the speaker lines of a play:
"USER:\\nHi\\n\\nASSISTANT:\\n", with "\\n\\n" ending a turn.

`render` also marks which tokens are the assistant's (its content and end marker, not the header): chat
fine-tuning (`data/chat.py`) puts the loss on those tokens only. The template lives beside the tokenizers so
that the data layer (training) and generation (prompting) render a conversation with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LanternError
from .base import Tokenizer

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


class _Renderer:
    """Accumulates pieces of a rendered conversation: their ids, assistant mask and text."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.mask: list[bool] = []
        self.text = ""

    def add(self, piece: str, is_assistant: bool, markers: bool) -> None:
        new = encode_with_specials(self.tokenizer, piece) if markers else self.tokenizer.encode(piece)
        self.ids.extend(new)
        self.mask.extend([is_assistant] * len(new))
        self.text += piece

    def done(self) -> RenderedChat:
        return RenderedChat(self.ids, self.mask, self.text)


def render_turn(message: dict[str, str], tokenizer: Tokenizer, template: ChatTemplate) -> RenderedChat:
    """One message: header, content, end-of-turn marker (and separator). Turns are rendered independently, so a
    conversation is the concatenation of its turns (then the assistant header when a reply is wanted).

    User content is encoded as ordinary text: a user typing "<|im_end|>" gets characters, not the marker."""
    role, content = message["role"], message["content"]
    assistant = role == "assistant"
    out = _Renderer(tokenizer)
    out.add(template.header_for(role), False, True)
    if content:
        out.add(content, assistant, False)
    out.add(template.end, assistant, True)
    if template.separator:
        out.add(template.separator, False, True)
    return out.done()


def check_messages(messages: list[dict[str, str]]) -> None:
    """Each message a {"role", "content"} dict with a known role and text; only the first may be "system"."""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES \
                or not isinstance(message.get("content"), str):
            raise LanternError(f"message {i}: needs a role in {ROLES} and text content, got {message!r}")
        if message["role"] == "system" and i:
            raise LanternError("only the first message may be the system prompt")


def render(messages: list[dict[str, str]], tokenizer: Tokenizer, template: ChatTemplate | None = None,
           add_generation_prompt: bool = True) -> RenderedChat:
    """Messages ({"role", "content"} dicts; an optional system message first) -> ids, assistant mask, text."""
    check_messages(messages)
    template = template or template_for(tokenizer)
    turns = [render_turn(m, tokenizer, template) for m in messages]
    if add_generation_prompt:
        turns.append(generation_prompt(tokenizer, template))
    return RenderedChat([i for t in turns for i in t.ids], [b for t in turns for b in t.assistant_mask],
                        "".join(t.text for t in turns))


def generation_prompt(tokenizer: Tokenizer, template: ChatTemplate) -> RenderedChat:
    out = _Renderer(tokenizer)
    out.add(template.header_for("assistant"), False, True)
    return out.done()
