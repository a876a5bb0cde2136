"""The bad-input corpus of the training and file-writing commands: every case is refused with exit code 2 and
exactly one line on stderr that starts with "error:", never a traceback, and leaves every file it was
pointed at as it was. Placeholders in braces name the workspace's files (see `workspace`)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from lanternlm.cli import main

CASES = [
    # train: numbers in --set (every float finite, every size bounded), keys, choices
    ("train -o {new} --set learning_rate=nan", "finite number"),
    ("train --data {data} -o {new} --set family=bert --set norm_placement=post", "[CLS] and [MASK]"),
    ("train -o {new} --set learning_rate=inf", "finite number"),
    ("train -o {new} --set learning_rate=-1", "learning_rate must be > 0"),
    ("train -o {new} --set min_lr=1e-30 --set learning_rate=1e-40", "min_lr"),
    ("train -o {new} --set n_layer=1e3", "at most 512"),
    ("train -o {new} --set n_embd=1e9", "at most"),
    ("train -o {new} --set block_size=1e30", "at most"),
    ("train -o {new} --set vocab_size=1e12", "at most"),
    ("train -o {new} --set batch_size=1e7", "at most"),
    ("train -o {new} --set eval_iters=1e7", "at most"),
    ("train -o {new} --set max_iters=0", "must be positive"),
    ("train -o {new} --set batch_size=-3", "must be positive"),
    ("train -o {new} --set keep_checkpoints=0", "must be positive"),
    ("train -o {new} --set dropout=1.5", "dropout must be in [0, 1)"),
    ("train -o {new} --set dropout=nan", "finite number"),
    ("train -o {new} --set attn_dropout=-inf", "finite number"),
    ("train -o {new} --set ff_dropout=1", "model.ff_dropout must be in [0, 1)"),
    ("train -o {new} --set seed=1e26", "seed must be at most"),
    ("train -o {new} --set seed=-1", "seed must be >= 0"),
    ("train -o {new} --set beta2=1.0", "beta2 must be in [0, 1)"),
    ("train -o {new} --set grad_clip=-1", "grad_clip"),
    ("train -o {new} --set weight_decay=1e400", "finite number"),
    ("train -o {new} --set rope_theta=0", "rope_theta"),
    ("train -o {new} --set norm_eps=nan", "finite number"),
    ("train -o {new} --set val_fraction=0", "val_fraction"),
    ("train -o {new} --set n_head=5", "divisible"),
    ("train -o {new} --set n_layer=2.5", "expected int"),
    ("train -o {new} --set n_layer=", "expected int"),
    ("train -o {new} --set bias=maybe", "expected bool"),
    ("train -o {new} --set n_layerz=2", "unknown config key"),
    ("train -o {new} --set n_layer", "key=value"),
    ("train -o {new} --set window_sampling=shuffle", "window_sampling"),
    ("train -o {new} --set position=sideways", "position"),
    ("train -o {new} --set lr_schedule=exp", "lr_schedule"),
    ("train -o {new} --set dtype=float8", "dtype"),
    ("train -o {new} --device tpu", "unknown device"),
    ("train -o {new} --preset nope", "unknown preset"),
    ("train -o {new} --preset shakespeare-char-cpu --config {toml}", "not both"),
    ("train -o {new} --config {latin}", "not valid TOML"),
    ("train -o {new} --config {missing}", "not found"),
    ("train -o {new} --config {badtoml}", "unknown section"),
    ("train -o {new} --input {empty}", "empty"),
    ("train -o {new} --input {latin}", "not UTF-8"),
    ("train -o {new} --input {missing}", "not found"),
    ("train -o {new} --input {folder}", "is a folder"),
    ("train -o {new} --val {latin}", "not UTF-8"),
    ("train -o {new} --data {folder}", "not a prepared data directory"),
    ("train -o {new} --data {run}", "not a prepared data directory"),
    ("train -o {new} --init-from {missing}", "not found"),
    ("train -o {new} --init-from {folder}", "not a Lantern run"),
    ("train -o {new} --set vocab_size=3", "does not match the tokenizer"),
    ("train -o {file}", "is a file"),
    ("train -o {file}/run", "is a file, not a folder"),
    ("train -o /sys/lantern-run", "cannot create the folder"),
    ("train -o {run}", "already holds a run"),
    ("train -o {run} --resume --preset shakespeare-char-cpu", "drop --preset"),
    ("train -o {run} --resume --overwrite", "drop --preset"),
    ("train -o {missing} --resume", "not found"),
    ("train -o {folder} --resume", "not a Lantern run"),
    ("train -o {notes} --overwrite", "not a Lantern run"),
    ("train -o {run} --resume --set n_layer=1e3", "at most"),
    ("train --bogus", "No such option"),
    ("train", "Missing option"),
    # quickstart
    ("quickstart -o {file}", "is a file"),
    ("quickstart -o {notes} --fresh", "not a Lantern run"),
    ("quickstart -o {new} --max-new-tokens -1", "--max-new-tokens"),
    ("quickstart -o {new} --seed -1", "--seed"),
    ("quickstart -o {new} --seed 100000000000000000000000", "--seed"),
    # eval
    ("eval {missing}", "not found"),
    ("eval {folder}", "not a Lantern run"),
    ("eval {run} --input {latin}", "not UTF-8"),
    ("eval {run} --input {empty}", "empty"),
    ("eval {run} --stride -1", "--stride"),
    ("eval {run} --stride 100000", "--stride"),
    ("eval {run} --input {txt} --data {data}", "not both"),
    ("eval {run} --data {folder}", "not a prepared data directory"),
    ("eval {run} --data {data}", "tokenizer"),
    ("eval {run} --device tpu", "unknown device"),
    # plot
    ("plot {missing}", "no metrics.jsonl"),
    ("plot {run} -o {folder}", "is a folder"),
    ("plot {run} -o {file}/loss.png", "is a file, not a folder"),
    ("plot {run} -o /sys/loss.png", "permission denied"),
    ("plot {badrun} -o {new}.png", "no readable training records"),
    ("plot", "Missing argument"),
    # presets
    ("presets extra", "unexpected extra argument"),
    # prepare
    ("prepare -t {tok} -i {txt} -o {run}", "does not hold prepared data"),
    ("prepare -t {tok} -i {txt} -o {notes}", "does not hold prepared data"),
    ("prepare -t {tok} -i {txt} -o {file}", "is a file"),
    ("prepare -t {tok} -i {txt} -o {data}", "--force"),
    ("prepare -t {tok} -i {txt} -o {file}/data", "is a file, not a folder"),
    ("prepare -t {txt} -i {txt} -o {new}", "not a valid tokenizer"),
    ("prepare -t {missing} -i {txt} -o {new}", "not found"),
    ("prepare -t {tok} -i {empty0} -o {new}", "empty"),
    ("prepare -t {tok} -i {missing} -o {new}", "not found"),
    ("prepare -t {tok} -i {folder} -o {new}", "no .txt or .gz files"),
    ("prepare -t {tok} -i {txt} -o {new} --val-fraction 1.5", "--val-fraction"),
    ("prepare -t {tok} -i {txt} -o {new} --val-fraction nan", "--val-fraction"),
    ("prepare -t {tok} -i {txt} -o {new} --val-fraction 0.1 --val {txt}", "not both"),
    ("prepare -t {tok} -i {txt} -o {new} --workers -1", "--workers"),
    ("prepare -t {tok} -i {txt} -o {new} --workers 100000", "workers must be between"),
    # prepare --pairs (translation data)
    ("prepare --pairs {tsv_one_column} -o {new}", "tsv_one_column.tsv:2: 1 tab-separated column(s)"),
    ("prepare --pairs {tsv} -o {new} --target-column 2", "need 3"),
    ("prepare --pairs {tsv} -o {new} --source-column 1 --target-column 1", "two different column numbers"),
    ("prepare --pairs {tsv} -o {new} --source-column -1", "two different column numbers >= 0"),
    ("prepare --pairs {tsv_empty_sides} -o {new}", "0 pair(s) left after filtering"),
    ("prepare --pairs {empty0} -o {new}", "no sentence pairs"),
    ("prepare --pairs {tsv} -o {new} --vocab-size 100", "at least 257 tokens"),
    ("prepare --pairs {tsv} -o {new} --max-tokens 1", "max_tokens >= 2"),
    ("prepare --pairs {tsv} -o {new} --max-words -1", "max_words must be >= 0"),
    ("prepare --pairs {tsv} -o {new} --val-fraction 1.5", "validation fraction"),
    ("prepare --pairs {tsv} -o {new} --val-fraction nan", "validation fraction"),
    ("prepare --pairs {tsv} -o {new} -i {txt}", "drop --input"),
    ("prepare --pairs {tsv} -o {new} -t {txt}", "not a valid tokenizer"),
    ("prepare --pairs {tsv} -o {run}", "does not hold prepared data"),
    ("prepare --pairs {tsv} -o {pairs}", "--force"),
    ("prepare --pairs {tsv} -o {file}", "is a file"),
    ("prepare --pairs {missing} -o {new}", "not found"),
    ("prepare --pairs {latin} -o {new}", "not UTF-8"),
    ("prepare -o {new}", "give --tokenizer and --input"),
    ("train -o {new} --data {pairs}", "seq2seq"),
    ("train -o {new} --data {pairs} --set family=seq2seq --set block_size=4", "raise block_size"),
    ("train -o {new} --data {data} --set family=seq2seq", "token stream"),
    ("train -o {new} --data {pairs} --set family=seq2seq --set label_smoothing=1", "label_smoothing"),
    ("train -o {new} --data {pairs} --set family=seq2seq --set n_encoder_layer=-1", "n_encoder_layer"),
    ("train -o {new} --set n_decoder_layer=2", "belong to the seq2seq family"),
    ("train -o {new} --data {pairs} --set family=seq2seq --set position=alibi", "no position='alibi'"),
    ("eval {run} --pairs {tsv}", "no encoder"),
    # tokenizer
    ("tokenizer train -i {txt} -v 100 -o {new}.json", "too small"),
    ("tokenizer train -i {txt} -v 300 -o {folder}", "is a folder"),
    ("tokenizer train -i {txt} -v 300 -o {file}/tok.json", "is a file, not a folder"),
    ("tokenizer train -i {txt} -v 300 -o /sys/tok.json", "permission denied"),
    ("tokenizer train -i {txt} -v 300 -o {new}.json --pattern gpt5", "--pattern"),
    ("tokenizer train -i {txt} -v 300 -o {new}.json --workers -1", "--workers"),
    ("tokenizer train -i {txt} -v 300 -o {new}.json --workers 100000", "--workers"),
    ("tokenizer train -i {latin} -v 300 -o {new}.json", "not UTF-8"),
    ("tokenizer train -i {missing} -v 300 -o {new}.json", "not found"),
    ("tokenizer train --kind unigram -i {txt} -v 300 -o {new}.json", "bpe or wordpiece"),
    ("tokenizer train --kind wordpiece -i {txt} -v 300 -o {new}.json --pattern gpt4", "--kind bpe"),
    ("tokenizer train --kind wordpiece -i {txt} -v 8 -o {new}.json", "too small"),
    ("tokenizer train --kind wordpiece -i {empty} -v 300 -o {new}.json", "empty"),
    ("tokenizer import -o {new}.json", "exactly one"),
    ("tokenizer import --wordpiece {vocab_no_unk} -o {new}.json", "no unknown-word token '[UNK]'"),
    ("tokenizer import --wordpiece {folder} -o {new}.json", "not a BERT tokenizer directory"),
    ("tokenizer import --tiktoken {latin} -o {new}.json", "not UTF-8"),
    ("tokenizer import --tiktoken {txt} --special abc -o {new}.json", "TEXT=ID"),
    ("tokenizer import --tiktoken {missing} -o {new}.json", "not found"),
    ("tokenizer import --gpt2 {txt} {txt} -o {new}.json", "not valid JSON"),
    ("tokenizer encode {txt} hi", "not a valid tokenizer"),
    ("tokenizer encode {tok}", "give either TEXT or --input"),
    ("tokenizer encode {tok} hi --input {txt}", "give either TEXT or --input"),
    ("tokenizer encode {tok} --input {latin}", "not UTF-8"),
    ("tokenizer decode {tok} 99999999", "out of range"),
    ("tokenizer decode {tok} abc", "valid integer"),
    ("tokenizer decode {missing} 1", "not found"),
    ("tokenizer show {missing} hi", "not found"),
    ("tokenizer show {folder} hi", "not found"),
    ("tokenizer stats {tok} {txt} --top -1", "--top"),
    ("tokenizer stats {tok} {txt} --top 0", "--top"),
    ("tokenizer stats {tok} {empty}", "empty"),
    ("tokenizer stats {tok} {folder}", "is a folder"),
    # word2vec
    ("word2vec train -i {txt} -o {new}.vec --alpha inf", "alpha"),
    ("word2vec train -i {txt} -o {new}.vec --alpha nan", "alpha"),
    ("word2vec train -i {txt} -o {new}.vec --alpha 0", "alpha"),
    ("word2vec train -i {txt} -o {new}.vec --alpha 5", "alpha"),
    ("word2vec train -i {txt} -o {new}.vec --dim 0", "dim"),
    ("word2vec train -i {txt} -o {new}.vec --dim 100000", "dim"),
    ("word2vec train -i {txt} -o {new}.vec --workers -1", "workers"),
    ("word2vec train -i {txt} -o {new}.vec --workers 100000", "workers"),
    ("word2vec train -i {txt} -o {new}.vec --window 0", "window"),
    ("word2vec train -i {txt} -o {new}.vec --negative 0", "negative"),
    ("word2vec train -i {txt} -o {new}.vec --sample -1", "sample"),
    ("word2vec train -i {txt} -o {new}.vec --sample nan", "sample"),
    ("word2vec train -i {txt} -o {new}.vec --seed -1", "seed"),
    ("word2vec train -i {txt} -o {new}.vec --epochs 0", "epochs"),
    ("word2vec train -i {txt} -o {new}.vec --min-count 0", "--min-count"),
    ("word2vec train -i {txt} -o {folder}", "is a folder"),
    ("word2vec train -i {txt} -o {file}/v.vec", "is a file, not a folder"),
    ("word2vec train -i {latin} -o {new}.vec", "not UTF-8"),
    ("word2vec similar {vec} cat -n -1", "--top"),
    ("word2vec similar {vec} cat -n 0", "--top"),
    ("word2vec similar {empty0} cat", "is empty"),
    ("word2vec similar {vec} zzzz", "not in the vocabulary"),
    ("word2vec similar {txt} cat", "not a word2vec file"),
    ("word2vec similar {folder} cat", "is a folder"),
    ("word2vec similar {missing} cat", "not found"),
    ("word2vec analogy {vec} cat dog bird -n -1", "--top"),
    ("word2vec analogy {vec} cat dog zzzz", "not in the vocabulary"),
    ("word2vec eval {vec}", "--questions"),
    ("word2vec eval {vec} --questions {missing}", "not found"),
    ("word2vec eval {vec} --wordsim {latin}", "not UTF-8"),
    ("word2vec eval {vec} --questions {txt}", "not 'a b c d'"),
    ("word2vec plot {vec} cat", "at least 2"),
    ("word2vec plot {vec} cat dog -o {folder}", "is a folder"),
    ("word2vec plot {vec} cat dog -o /sys/map.png", "permission denied"),
    # embed
    ("embed tfidf -i {txt} -q cat -n -1", "--top"),
    ("embed tfidf -i {empty} -q cat", "empty"),
    ("embed tfidf -i {txt} -q cat --split word", "--split"),
    ("embed tfidf -i {latin} -q cat", "not UTF-8"),
    # demo neuron
    ("demo neuron --lr nan", "--lr"),
    ("demo neuron --lr inf", "--lr"),
    ("demo neuron --lr 0", "--lr"),
    ("demo neuron --lr 1e9", "--lr"),
    ("demo neuron --steps 0", "--steps"),
    ("demo neuron --steps 1000000000", "--steps"),
    ("demo neuron --seed -1", "--seed"),
    # convert
    ("convert from-hf {folder} -o {new}", "no config.json"),
    ("convert from-hf {missing} -o {new}", "not a directory"),
    ("convert from-hf {hf} -o {run}", "not empty"),
    ("convert from-hf {hf} -o {file}", "is a file"),
    ("convert from-hf {hf_null} -o {new}", "expected int, got None"),
    ("convert from-hf {hf_huge} -o {new}", "at most"),
    ("convert from-hf {hf_pickle} -o {new}", "pickle"),
    ("convert from-hf {hf_not_bert} -o {new}", "lacks tensor 'bert.embeddings.word_embeddings.weight'"),
    ("convert from-hf {hf_bert_no_unk} -o {new}", "no unknown-word token '[UNK]'"),
    ("convert to-hf {run} -o {run}", "not empty"),
    ("convert to-hf {run} -o {file}", "is a file"),
    ("convert to-hf {run} -o {file}/hf", "is a file, not a folder"),
    ("convert to-hf {missing} -o {new}", "not found"),
    ("convert to-hf {folder} -o {new}", "not a Lantern run"),
    ("convert to-hf {noweights} -o {new}", "no trained weights"),
    # inspect params
    ("inspect params --preset nope", "unknown preset"),
    ("inspect params", "give a config file or run directory"),
    ("inspect params --preset shakespeare-char-cpu --set n_layer=1e3", "at most"),
    ("inspect params --preset shakespeare-char-cpu --set dropout=nan", "finite number"),
    ("inspect params --preset shakespeare-char-cpu --dtype int4", "--dtype"),
    ("inspect params {latin}", "not valid TOML"),
    ("inspect params {missing}", "not found"),
    # finetune classify / lm / merge, classify, eval RUN --data FILE.jsonl, eval fewshot
    ("finetune classify --base {run} --data {nofield} -o {new}", "no field 'label'"),
    ("finetune classify --base {run} --data {oneclass} -o {new}", "two classes or more"),
    ("finetune classify --base {run} --data {floatlabel} -o {new}", "integer or a string, got 0.5"),
    ("finetune classify --base {run} --data {listlabel} -o {new}", "integer or a string, got [1]"),
    ("finetune classify --base {run} --data {notjsonl} -o {new}", "not JSON"),
    ("finetune classify --base {run} --data {reviews} -o {new} --text-field body", "no field 'body'"),
    ("finetune classify --base {run} --data {latin} -o {new}", "not UTF-8"),
    ("finetune classify --base {run} --data {missing} -o {new}", "not found"),
    ("finetune classify --base {missing} --data {reviews} -o {new}", "not found"),
    ("finetune classify --base {folder} --data {reviews} -o {new}", "not a Lantern run"),
    ("finetune classify --data {reviews} -o {new}", "give --base RUN and --data"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method lora --lora-rank 0", "must be positive"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method lora --lora-rank -2", "must be positive"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method lora --lora-alpha 0", "must be positive"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method lora --lora-targets q,x", "lora_targets"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method lora --lora-dropout 1.5", "lora_dropout"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method loar", "finetune.method must be one of"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method prompt --prompt-tokens 0", "prompt_tokens"),
    ("finetune classify --base {run} --data {reviews} -o {new} --method prompt --prompt-tokens 100000", "100000 of them the soft prompt"),
    ("finetune classify --base {run} --data {reviews} -o {new} --pooling max", "finetune.pooling"),
    ("finetune classify --base {run} --data {reviews} -o {new} --max-length 100000", "does not fit"),
    ("finetune classify --base {run} --data {reviews} -o {new} --epochs 0", "--epochs"),
    ("finetune classify --base {run} --data {reviews} -o {new} --batch-size 0", "--batch-size"),
    ("finetune classify --base {run} --data {reviews} -o {new} --lr nan", "finite number"),
    ("finetune classify --base {run} --data {reviews} -o {new} --set lora_rnk=2", "unknown config key"),
    ("finetune classify --base {run} --data {reviews} --max-length 8 -o {run}", "already holds a run"),
    ("finetune classify --base {run} --data {reviews} --max-length 8 -o {notes} --overwrite", "not a Lantern run"),
    ("finetune classify --base {run} --data {reviews} --max-length 8 -o {file}", "is a file"),
    ("finetune classify -o {missing} --resume", "not found"),
    ("finetune classify -o {run} --resume --base {run}", "drop --base"),
    ("finetune lm --base {run} --input {missing} -o {new}", "not found"),
    ("finetune lm --base {run} --input {txt} -o {new} --method head", "finetune.method"),
    ("finetune lm --base {run} --input {txt} -o {new} --steps 0", "--steps"),
    ("finetune lm --base {run} --input {txt} -o {new} --lora-rank 0", "must be positive"),
    ("finetune lm -o {new}", "give --base RUN and --input"),
    ("finetune merge {junk} -o {new}", "not an adapter file"),
    ("finetune merge {foreign} -o {new}", "not a Lantern adapter file"),
    ("finetune merge {txt} -o {new}", "not an adapter file"),
    ("finetune merge {missing} -o {new}", "not found"),
    ("classify {run} good", "not a classifier run"),
    ("classify {missing} good", "not found"),
    ("eval {run} --data {reviews}", "not a prepared data directory"),
    ("eval fewshot {run} --data {reviews} --shots 0,5000", "more than the"),
    ("eval fewshot {run} --data {reviews} --shots -1", "--shots"),
    ("eval fewshot {run} --data {reviews} --shots a,b", "--shots"),
    ("eval fewshot {run} --data {reviews} --limit -3", "--limit"),
    ("eval fewshot {run} --data {oneclass}", "two classes or more"),
    ("eval fewshot {run} --data {reviews} --template {missing}", "not found"),
    ("eval fewshot {run} --data {reviews} --template {badtemplate}", "{text}"),
    ("eval fewshot {run} --data {reviews} --template {latin}", "not valid TOML"),
    ("eval fewshot {missing} --data {reviews}", "not found"),
    # finetune chat / dpo, data chat / preferences
    ("finetune chat --base {run} --data {reviews} -o {new}", "'messages' must be"),
    ("finetune chat --base {run} --data {notjsonl} -o {new}", "line 1:"),
    ("finetune chat --base {run} --data {latin} -o {new}", "not UTF-8"),
    ("finetune chat --base {run} --data {missing} -o {new}", "not found"),
    ("finetune chat --base {missing} --data {reviews} -o {new}", "not found"),
    ("finetune chat --data {reviews} -o {new}", "give --base RUN and --data"),
    ("finetune chat --base {run} --data {reviews} -o {new} --method head", "needs a task head"),
    ("finetune chat --base {run} --data {reviews} -o {new} --epochs 0", "--epochs"),
    ("finetune chat -o {run} --resume --base {run}", "drop --base"),
    ("finetune dpo --base {run} --data {reviews} -o {new}", "'prompt' must be"),
    ("finetune dpo --base {run} --data {reviews} -o {new} --beta -1", "dpo_beta"),
    ("finetune dpo --base {run} --data {reviews} -o {new} --lora-rank 0", "must be positive"),
    ("data chat -o {new}", "at least one source"),
    ("data chat -o {new} --translation {missing}", "not found"),
    ("data chat -o {new} --sentiment {txt}", "0 or 1"),
    ("data preferences -o {new} --translation {reviews}", "english<TAB>french"),
    ("data chat -o {new} --stories {txt} --per-task 0", "--per-task"),
]


def digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_run):
    """Files to point commands at: a run, a tokenizer, text, vectors, prepared data, HF folders, bad files."""
    from lanternlm.classic.vectors import WordVectors
    from lanternlm.config import ModelConfig
    from lanternlm.interop.hf import state_dict_to_hf
    from lanternlm.interop.hf_families import bert_family
    from lanternlm.models import build_model
    from lanternlm.data.prepare import prepare
    from lanternlm.data.prepare_pairs import prepare_pairs
    from lanternlm.interop import export_hf
    from lanternlm.tokenizers.bpe_train import train_bpe

    root = tmp_path_factory.mktemp("bad-input")
    files = {"run": root / "run", "txt": root / "corpus.txt", "tok": root / "tok.json", "vec": root / "words.vec",
             "data": root / "data", "empty": root / "empty.txt", "empty0": root / "empty0.txt",
             "latin": root / "latin1.txt", "folder": root / "folder", "file": root / "file.txt",
             "notes": root / "notes", "badrun": root / "badrun", "hf": root / "hf", "hf_null": root / "hf-null",
             "hf_huge": root / "hf-huge", "hf_pickle": root / "hf-pickle", "noweights": root / "noweights",
             "toml": root / "config.toml", "badtoml": root / "bad.toml", "vocab_no_unk": root / "vocab.txt",
             "hf_not_bert": root / "hf-not-bert", "hf_bert_no_unk": root / "hf-bert-no-unk", "tsv": root / "pairs.tsv",
             "tsv_one_column": root / "tsv_one_column.tsv", "tsv_empty_sides": root / "empty_sides.tsv",
             "pairs": root / "pairs"}
    shutil.copytree(tiny_run, files["run"])
    files["txt"].write_text("the cat sat on the mat. the dog sat on the log.\n" * 50)
    train_bpe([files["txt"]], 300, "gpt2", ["<|endoftext|>"]).save(files["tok"])
    WordVectors(["cat", "dog", "bird", "mat"], torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
                ).save(files["vec"])
    prepare(files["tok"], [files["txt"]], files["data"], workers=1)
    pairs = "".join(f"{en}\t{fr}\n" for en, fr in (("I am cold.", "J'ai froid."), ("Thank you.", "Merci."),
                                                    ("We are happy.", "Nous sommes heureux."), ("Go.", "Va.")))
    files["tsv"].write_text(pairs, encoding="utf-8")
    files["tsv_one_column"].write_text("Hello\tBonjour\nonly one column\n", encoding="utf-8")
    files["tsv_empty_sides"].write_text("Hello\t \n\tMerci\n", encoding="utf-8")
    prepare_pairs(files["tsv"], files["pairs"], vocab_size=280, val_fraction=0.25)
    files["empty"].write_text("  \n")
    files["empty0"].write_bytes(b"")
    files["latin"].write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    files["folder"].mkdir()
    files["file"].write_text("not a folder")
    files["notes"].mkdir()
    (files["notes"] / "thesis.txt").write_text("years of work")
    files["badrun"].mkdir()
    (files["badrun"] / "metrics.jsonl").write_bytes(b'\xff\xfe{"step": 1}\n[1, 2]\n{"step": "a", "loss": 1}\n\x00\n')
    export_hf(files["run"], files["hf"])
    config = json.loads((files["hf"] / "config.json").read_text())
    for name, change in (("hf_null", {"n_embd": None}), ("hf_huge", {"n_layer": 10**6})):
        files[name].mkdir()
        (files[name] / "config.json").write_text(json.dumps({**config, **change}))
        shutil.copy(files["hf"] / "model.safetensors", files[name])
    files["hf_pickle"].mkdir()
    (files["hf_pickle"] / "config.json").write_text(json.dumps(config))
    (files["hf_pickle"] / "pytorch_model.bin").write_bytes(b"PK\x03\x04 pickled")
    files["noweights"].mkdir()
    shutil.copy(files["run"] / "config.toml", files["noweights"])
    labelled = {"reviews": [{"text": t, "label": n % 2} for n, t in enumerate(["good film", "bad film"] * 10)],
                "nofield": [{"text": "a", "label": 1}, {"text": "b"}],
                "oneclass": [{"text": "a", "label": 1}, {"text": "b", "label": 1}],
                "floatlabel": [{"text": "a", "label": 1}, {"text": "b", "label": 0.5}],
                "listlabel": [{"text": "a", "label": 1}, {"text": "b", "label": [1]}]}
    for name, rows in labelled.items():
        files[name] = root / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(row) + "\n" for row in rows))
    files["notjsonl"] = root / "notjson.jsonl"
    files["notjsonl"].write_text('{"text": "a", "label": 1}\n{oops\n')
    files["junk"] = root / "junk.safetensors"
    files["junk"].write_bytes(b"\x00\x01not a safetensors file at all")
    files["foreign"] = root / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["foreign"]))
    files["badtemplate"] = root / "template.toml"
    files["badtemplate"].write_text('query = "no placeholder"\n')
    files["vocab_no_unk"].write_text("[PAD]\n[CLS]\n[SEP]\nhello\n##s\n")
    small_bert = ModelConfig(family="bert", norm_placement="post", vocab_size=5, block_size=16, n_layer=1, n_head=2,
                             n_embd=16, type_vocab_size=2)
    family = bert_family(small_bert)
    bert_json = json.dumps({"architectures": [family.architecture], "model_type": family.model_type,
                            **family.to_hf(small_bert)})
    for name, weights in (("hf_not_bert", load_file(files["hf"] / "model.safetensors")),  # a GPT's: not BERT
                          ("hf_bert_no_unk", state_dict_to_hf(family, small_bert, build_model(small_bert).state_dict()))):
        files[name].mkdir()
        (files[name] / "config.json").write_text(bert_json)
        save_file(weights, files[name] / "model.safetensors")
    shutil.copy(files["vocab_no_unk"], files["hf_bert_no_unk"])
    files["toml"].write_text("[train]\nmax_iters = 5\n")
    files["badtoml"].write_text("[training]\nmax_iters = 5\n")
    return root, files


@pytest.mark.parametrize("command, expected", CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_line_exit_2(command, expected, workspace, tmp_path, capsys):
    root, files = workspace
    names = {**{k: str(v) for k, v in files.items()}, "new": str(tmp_path / "new"), "missing": str(tmp_path / "nope")}
    before = digest(root)
    code = main([part.format(**names) for part in command.split()])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    assert expected in lines[0], lines[0]
    assert digest(root) == before, "a refused command changed a file"
    assert not (tmp_path / "new").exists() and not (tmp_path / "nope").exists()


def test_the_corpus_is_large_enough():
    commands = {" ".join(c.split()[:2]) if c.split()[0] in ("tokenizer", "word2vec", "embed", "demo", "convert",
                                                            "inspect", "finetune", "data") else c.split()[0]
                for c, _ in CASES}
    commands |= {"eval fewshot" for c, _ in CASES if c.startswith("eval fewshot")}
    assert len(CASES) >= 80 and len(commands) == 31, (len(CASES), sorted(commands))  # every command owned here
