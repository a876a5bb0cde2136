"""The chat template (both spellings), the assistant-token mask, history trimming, and `lantern chat` over a pipe."""

import re
import subprocess
import sys

import pytest

from lanternlm.errors import LanternError
from lanternlm.generate.chat import CHATML, IM_END, IM_START, PLAIN, chat_prompt, fit_to_context, render, template_for
from lanternlm.tokenizers import BPETokenizer, CharTokenizer

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]


@pytest.fixture
def bpe():
    return BPETokenizer([], special_tokens={IM_START: 256, IM_END: 257})


@pytest.fixture
def chars():
    return CharTokenizer(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:!? \n")))


def test_chatml_text_and_special_ids(bpe):
    assert template_for(bpe) is CHATML
    chat = render(CONVERSATION, bpe)
    assert chat.text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                         "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                         "<|im_start|>assistant\n")
    assert chat.ids.count(256) == 5 and chat.ids.count(257) == 4  # each marker is one special token
    assert bpe.decode(chat.ids) == chat.text
    prompt = chat_prompt(CONVERSATION, bpe, block_size=1000, max_new_tokens=10)
    assert prompt.ids == chat.ids and prompt.stop == () and prompt.stop_tokens == (257,)  # no end-of-text token


def test_assistant_mask_covers_exactly_the_reply_and_its_end_marker(bpe):
    chat = render(CONVERSATION, bpe)
    masked = [i for i, m in zip(chat.ids, chat.assistant_mask) if m]
    assert masked == bpe.encode("Hello.") + [257]
    assert len(chat.assistant_mask) == len(chat.ids)


def test_user_text_cannot_forge_a_marker(bpe):
    chat = render([{"role": "user", "content": "<|im_end|>"}], bpe)
    assert chat.ids.count(257) == 1  # only the template's own end marker is the special token


def test_plain_spelling_for_tokenizers_without_the_markers(chars):
    assert template_for(chars) is PLAIN
    chat = render(CONVERSATION, chars)
    assert chat.text == "SYSTEM:\nBe brief.\n\nUSER:\nHi\n\nASSISTANT:\nHello.\n\nUSER:\nBye\n\nASSISTANT:\n"
    assert chars.decode([i for i, m in zip(chat.ids, chat.assistant_mask) if m]) == "Hello.\n\n"
    prompt = chat_prompt(CONVERSATION, chars, block_size=1000, max_new_tokens=10)
    assert prompt.ids == chat.ids and prompt.stop == ("\n\n",) and prompt.stop_tokens == ()


def test_bad_conversations(chars):
    with pytest.raises(LanternError, match="role"):
        render([{"role": "robot", "content": "x"}], chars)
    with pytest.raises(LanternError, match="system"):
        render([{"role": "user", "content": "x"}, {"role": "system", "content": "y"}], chars)
    with pytest.raises(LanternError, match="not in the vocabulary"):
        render([{"role": "user", "content": "日本"}], chars)


def test_history_is_trimmed_oldest_first_keeping_the_system_prompt(chars):
    full = render(CONVERSATION, chars).ids
    assert fit_to_context(CONVERSATION, chars, len(full)) == full
    trimmed = fit_to_context(CONVERSATION, chars, len(full) - 1)
    assert chars.decode(trimmed).startswith("SYSTEM:\nBe brief.\n\n")
    assert "Hi" not in chars.decode(trimmed) and chars.decode(trimmed).endswith("Bye\n\nASSISTANT:\n")
    assert len(fit_to_context(CONVERSATION, chars, 5)) == 5  # even the newest turn alone is cut to the budget


def test_trimming_a_long_history_encodes_each_turn_once(chars, monkeypatch):
    """5,000 messages cost 5,000 renders, not one render per dropped turn (which grew with the square)."""
    calls = []
    original = CharTokenizer.encode
    monkeypatch.setattr(CharTokenizer, "encode", lambda self, text: calls.append(1) or original(self, text))
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ho"}] * 2500
    ids = fit_to_context([{"role": "system", "content": "Be brief."}] + history + [{"role": "user", "content": "Bye"}],
                         chars, 60)
    assert len(ids) <= 60 and chars.decode(ids).endswith("USER:\nBye\n\nASSISTANT:\n")
    assert len(calls) <= 4 * 5002 + 4  # header, content, end marker, separator per turn


@pytest.mark.slow
def test_chat_repl_over_a_pipe(tiny_run):
    lines = "Hello there\n/system Speak plainly\nHow are you?\n/reset\n日本\nBye\n/quit\nnever read\n"
    proc = subprocess.run([sys.executable, "-m", "lanternlm", "chat", str(tiny_run), "-n", "12", "--seed", "1",
                           "--system", "Be brief"], input=lines, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("assistant> ") == 3  # three user turns; the unencodable line is an error, not a crash
    assert "(system prompt: 'Speak plainly')" in proc.stderr and "(conversation reset)" in proc.stderr
    assert "error: text has 2 character(s) not in the vocabulary" in proc.stderr
    assert proc.stderr.count("time to first token") == 3 and "Traceback" not in proc.stderr
    again = subprocess.run([sys.executable, "-m", "lanternlm", "chat", str(tiny_run), "-n", "12", "--seed", "1",
                            "--system", "Be brief"], input=lines, capture_output=True, text=True, timeout=300)
    assert again.stdout == proc.stdout  # seeded: the same conversation twice


def test_next_command_table(capsys, tiny_run):
    from lanternlm.cli import main

    assert main(["next", str(tiny_run), "ROMEO:", "--top", "5"]) == 0
    cold = capsys.readouterr().out.splitlines()
    assert main(["next", str(tiny_run), "ROMEO:", "--top", "5", "--temperature", "0.3"]) == 0
    sharp = capsys.readouterr().out.splitlines()
    assert len(cold) == 7 and cold[1].split() == ["rank", "token", "id", "prob", "cum"]
    percents = [[float(x) for x in re.findall(r"([\d.]+)%", line)] for line in cold[2:]]  # prob, cum per row
    probs = [p for p, _ in percents]
    assert probs == sorted(probs, reverse=True)
    assert percents[-1][1] == pytest.approx(sum(probs), abs=0.05)  # the cumulative column
    assert float(re.findall(r"([\d.]+)%", sharp[2])[0]) > probs[0]  # a lower temperature sharpens the top token
    assert main(["next", str(tiny_run), ""]) == 2
    assert main(["next", str(tiny_run), "ROMEO:", "--temperature", "0"]) == 2
