"""The one configuration object: every hyper-parameter of a run, grouped as model / train / data.

Presets are TOML files in `lanternlm/presets/`; `--set key=value` overrides any field (`n_layer=4` or
`model.n_layer=4`); each run writes its resolved `config.toml`, which `--config` reads back.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import LanternError
from .io import read_toml


@dataclass
class ModelConfig:
    """Shape of the network (the seeds' hyper-parameter table)."""

    family: str = "gpt"  # gpt: decoder-only | bert: encoder-only (masked LM) | seq2seq: encoder–decoder | mlp, rnn
    vocab_size: int = 0  # 0: taken from the tokenizer
    block_size: int = 256  # context length / max positions
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384  # d_model
    d_ff: int = 0  # feed-forward width (per expert with MoE); 0 means 4 * n_embd
    activation: str = "gelu"  # gelu | gelu_tanh | relu | silu | swiglu (gated)
    dropout: float = 0.0  # on embeddings and residual branches
    attn_dropout: float = 0.0  # on attention weights
    ff_dropout: float = 0.0  # inside the feed-forward network, on its d_ff activations
    bias: bool = True  # biases in Linear and LayerNorm
    norm_eps: float = 1e-5
    tie_embeddings: bool = True  # LM head shares the token embedding matrix
    position: str = "learned"  # learned | sinusoidal | rope | alibi | none
    rope_theta: float = 10000.0  # RoPE base: pair i rotates by angle pos * theta^(-2i/d_head)
    norm: str = "layernorm"  # layernorm | rmsnorm
    norm_placement: str = "pre"  # pre: x + f(norm(x)); post: norm(x + f(x))
    init: str = "gpt2"  # gpt2: N(0, 0.02²), residual outputs scaled down with depth | xavier: Glorot uniform
    n_kv_head: int = 0  # key/value heads: 0 = n_head (multi-head), 1 = multi-query, between = grouped-query
    qk_norm: bool = False  # RMS-normalise queries and keys per head before the dot product
    sliding_window: int = 0  # attend to at most this many most recent positions (self included); 0 = all
    n_expert: int = 0  # mixture-of-experts feed-forward with this many experts; 0 = one dense feed-forward
    n_expert_active: int = 2  # top-k: experts each token is routed to
    moe_aux_loss_coef: float = 0.01  # weight of the load-balancing loss added to the training loss
    label_smoothing: float = 0.0  # ε_ls: train towards (1-ε)·one-hot + ε/|V|; evaluation reports plain cross-entropy
    quantization: str = "none"  # none | int8: Linear weights stored as int8 rows + float scales (inference only)
    # the bert family only
    type_vocab_size: int = 0  # segment (token-type) embeddings: 2 for sentence pairs (BERT), 0 = none
    mlm_head: bool = True  # masked-LM head: Linear d->d, activation, norm, decoder tied to the token embedding
    pooler: bool = False  # BERT's pooler tanh(W·h_[CLS] + b), the next-sentence head's input (kept on import)
    pooling: str = "mean"  # sentence vector: mean over non-padding positions | cls (the [CLS] position)
    normalize_embeddings: bool = False  # L2-normalise sentence vectors (then cosine similarity = dot product)
    max_seq_length: int = 0  # texts embedded are cut to this many tokens (sentence-transformers'); 0 = block_size
    # the seq2seq family only (the 2017 Transformer: an encoder reads the source, a decoder writes the target)
    n_encoder_layer: int = 0  # encoder blocks (N in the paper); 0 = n_layer
    n_decoder_layer: int = 0  # decoder blocks (self-attention, cross-attention, feed-forward); 0 = n_layer
    share_embeddings: bool = True  # source and target share one embedding matrix (one joint vocabulary)
    source_vocab_size: int = 0  # 0: the target's vocab_size (a joint tokenizer); else the source tokenizer's
    # the models before attention (families mlp and rnn): n_embd, n_layer, d_ff, dropout and bias apply too
    context_tokens: int = 8  # mlp: how many previous tokens' embeddings are concatenated (Bengio et al. 2003)
    rnn_cell: str = "gru"  # rnn: gru | lstm

    @property
    def ff_dim(self) -> int:
        return self.d_ff or 4 * self.n_embd

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def encoder_layers(self) -> int:
        return self.n_encoder_layer or self.n_layer

    @property
    def decoder_layers(self) -> int:
        return self.n_decoder_layer or self.n_layer

    @property
    def source_vocab(self) -> int:
        return self.source_vocab_size or self.vocab_size

    @property
    def attention_kind(self) -> str:
        if self.kv_heads == self.n_head:
            return "multi-head"
        return "multi-query" if self.kv_heads == 1 else "grouped-query"

    def validate(self) -> None:
        _check_fields(self, "model")
        for name in ("block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise LanternError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.vocab_size < 0 or self.d_ff < 0:
            raise LanternError("model.vocab_size and model.d_ff must be >= 0")
        for name in ("dropout", "attn_dropout", "ff_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise LanternError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        _check_choice("model.quantization", self.quantization, ("none", "int8"))
        if self.family in BEFORE_ATTENTION:  # no heads, positions or norms: the transformer options do not apply
            if self.context_tokens <= 0:
                raise LanternError(f"model.context_tokens must be positive, got {self.context_tokens}")
            return _check_choice("model.rnn_cell", self.rnn_cell, ("gru", "lstm"))
        if self.n_embd % self.n_head:
            raise LanternError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head})")
        if self.n_kv_head < 0 or self.n_head % self.kv_heads:
            raise LanternError(f"model.n_head ({self.n_head}) must be divisible by model.n_kv_head ({self.n_kv_head})")
        if self.sliding_window < 0 or self.rope_theta <= 0 or self.norm_eps <= 0 or self.moe_aux_loss_coef < 0:
            raise LanternError("model.sliding_window and moe_aux_loss_coef must be >= 0; rope_theta and norm_eps > 0")
        if self.n_expert < 0 or (self.n_expert and not 1 <= self.n_expert_active <= self.n_expert):
            raise LanternError(f"model.n_expert_active ({self.n_expert_active}) must be in 1..n_expert ({self.n_expert})")
        if self.position == "rope" and self.head_dim % 2:
            raise LanternError(f"rotary positions need an even head dimension, got {self.head_dim}")
        if self.position == "sinusoidal" and self.n_embd % 2:
            raise LanternError(f"sinusoidal positions need an even model.n_embd, got {self.n_embd}")
        _check_choice("model.activation", self.activation, ACTIVATION_NAMES)
        _check_choice("model.position", self.position, ("learned", "sinusoidal", "rope", "alibi", "none"))
        _check_choice("model.norm", self.norm, ("layernorm", "rmsnorm"))
        _check_choice("model.norm_placement", self.norm_placement, ("pre", "post"))
        _check_choice("model.init", self.init, ("gpt2", "xavier"))
        _check_choice("model.pooling", self.pooling, ("mean", "cls"))
        if self.type_vocab_size < 0:
            raise LanternError(f"model.type_vocab_size must be >= 0, got {self.type_vocab_size}")
        if not 0 <= self.max_seq_length <= self.block_size:
            raise LanternError(f"model.max_seq_length must be in 0..block_size ({self.block_size}), got "
                               f"{self.max_seq_length}")
        if self.family == "bert" and (self.position == "alibi" or self.sliding_window or self.n_expert):
            raise LanternError("the bert family has no position='alibi', sliding_window or n_expert (decoder options)")
        if self.family != "bert" and (self.type_vocab_size or self.pooler):
            raise LanternError("model.type_vocab_size and model.pooler belong to the bert family (model.family)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise LanternError(f"model.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if min(self.n_encoder_layer, self.n_decoder_layer, self.source_vocab_size) < 0:
            raise LanternError("model.n_encoder_layer, n_decoder_layer and source_vocab_size must be >= 0")
        if self.family == "seq2seq":
            if self.position == "alibi" or self.sliding_window:
                raise LanternError("the seq2seq family has no position='alibi' or sliding_window (its encoder is "
                                   "bidirectional)")
            if self.share_embeddings and self.source_vocab_size not in (0, self.vocab_size):
                raise LanternError(f"model.share_embeddings needs one vocabulary, but source_vocab_size "
                                   f"({self.source_vocab_size}) differs from vocab_size ({self.vocab_size})")
        elif self.n_encoder_layer or self.n_decoder_layer or self.source_vocab_size:
            raise LanternError("model.n_encoder_layer, n_decoder_layer and source_vocab_size belong to the seq2seq "
                               "family (model.family)")


ACTIVATION_NAMES = ("gelu", "gelu_tanh", "relu", "silu", "swiglu")
BEFORE_ATTENTION = ("mlp", "rnn")  # the families without attention (models/mlp.py, models/rnn.py)

# Largest accepted values: beyond them a run would exhaust any machine's memory (or NumPy's seed range) before
# it taught anything. The biggest open models stay well inside (Llama 3 405B: 126 layers, 16,384 dims).
UPPER_LIMITS = {
    "model.vocab_size": 2**22, "model.block_size": 2**20, "model.n_layer": 512, "model.n_head": 1024,
    "model.n_embd": 65_536, "model.d_ff": 262_144, "model.n_kv_head": 1024, "model.sliding_window": 2**20,
    "model.n_expert": 1024, "model.n_expert_active": 1024, "model.context_tokens": 2**16,
    "train.max_iters": 10**9, "train.batch_size": 65_536, "train.grad_accum": 65_536, "train.warmup_iters": 10**9,
    "train.lr_decay_iters": 10**9, "train.eval_interval": 10**9, "train.eval_iters": 10**6,
    "train.checkpoint_interval": 10**9, "train.keep_checkpoints": 1000, "train.log_interval": 10**9,
    "train.seed": 2**32 - 1, "train.early_stopping": 10**9,
    "finetune.max_length": 2**20, "finetune.lora_rank": 65_536, "finetune.prompt_tokens": 2**20,
}


def _field_default(spec) -> Any:
    return spec.default if spec.default is not MISSING else spec.default_factory()


def _check_fields(section: Any, name: str) -> None:
    """Every field has its declared type (a number, not the string "3"), floats are finite, and numbers stay
    under their UPPER_LIMITS; the range rules of each section come after."""
    for spec in fields(section):
        key, value = f"{name}.{spec.name}", getattr(section, spec.name)
        default = _field_default(spec)
        if isinstance(value, str) and not isinstance(default, str):
            raise LanternError(f"{key}: expected {type(default).__name__}, got {value!r}")
        _coerce(value, default, key)
        if key in UPPER_LIMITS and value > UPPER_LIMITS[key]:
            raise LanternError(f"{key} must be at most {UPPER_LIMITS[key]:,}, got {value:,}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LanternError(f"{name} must be one of {', '.join(choices)}; got {value!r}{hint}")


@dataclass
class TrainConfig:
    """Optimisation: AdamW with warm-up and cosine decay, clipping, evaluation and checkpoint cadence."""

    max_iters: int = 5000
    batch_size: int = 12  # sequences per micro-batch (per process)
    grad_accum: int = 1  # micro-batches whose gradients are summed before each optimizer step
    learning_rate: float = 1e-3
    min_lr: float = 1e-4  # floor of the decay
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0 means max_iters
    lr_schedule: str = "cosine"  # cosine | linear | constant (after warm-up)
    weight_decay: float = 0.1  # applied to >=2-D weights only
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    eval_interval: int = 250
    eval_iters: int = 20
    checkpoint_interval: int = 250
    keep_checkpoints: int = 2  # newest K checkpoints kept on disk
    log_interval: int = 10
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    compile: bool = False  # torch.compile the model (falls back to eager with a warning if it cannot)
    init_from: str = ""  # a run whose weights, tokenizer and model shape this run starts from; empty: random init
    best_metric: str = "val_loss"  # the validation figure that picks the best checkpoint: val_loss (lower is
    # better) or a score the validation split reports, such as val_accuracy (higher is better)
    early_stopping: int = 0  # stop after this many evaluations without a better best_metric; 0 = never

    def validate(self) -> None:
        _check_fields(self, "train")
        for name in ("max_iters", "batch_size", "grad_accum", "eval_interval", "eval_iters", "checkpoint_interval",
                     "keep_checkpoints", "log_interval"):
            if getattr(self, name) <= 0:
                raise LanternError(f"train.{name} must be positive, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.min_lr < 0 or self.min_lr > self.learning_rate:
            raise LanternError("train.learning_rate must be > 0 and train.min_lr in [0, learning_rate]")
        if self.warmup_iters < 0 or self.lr_decay_iters < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise LanternError("train.warmup_iters, lr_decay_iters, weight_decay and grad_clip must be >= 0")
        if self.seed < 0:
            raise LanternError(f"train.seed must be >= 0, got {self.seed}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise LanternError(f"train.beta1 and train.beta2 must be in [0, 1), got {self.beta1} and {self.beta2}")
        if self.lr_schedule not in ("cosine", "linear", "constant"):
            raise LanternError(f"train.lr_schedule must be cosine, linear or constant, got {self.lr_schedule!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise LanternError(f"train.dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        _check_choice("train.best_metric", self.best_metric, BEST_METRICS)
        if self.early_stopping < 0:
            raise LanternError(f"train.early_stopping must be >= 0, got {self.early_stopping}")


BEST_METRICS = ("val_loss", "val_accuracy", "val_f1")  # val_loss is minimised, the scores maximised


@dataclass
class DataConfig:
    """Where the text comes from and how it is split and tokenized."""

    input: list[str] = field(default_factory=list)  # empty: the bundled Tiny Shakespeare
    val_input: str = ""  # a separate validation file; empty: the last val_fraction of the text
    val_fraction: float = 0.1
    tokenizer: str = "char"  # "char" (built from the text) or a path to a saved tokenizer
    data_dir: str = ""  # a `lantern prepare`d token directory (memory-mapped); replaces input/tokenizer
    window_sampling: str = "random"  # random (independent draws, as nanoGPT) | epoch (shuffled passes, no repeats)
    mask_probability: float = 0.15  # bert family: share of a window's tokens the MLM loss predicts (80/10/10 rule)

    def validate(self) -> None:
        _check_fields(self, "data")
        if not 0.0 < self.val_fraction < 1.0:
            raise LanternError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 < self.mask_probability < 1.0:
            raise LanternError(f"data.mask_probability must be in (0, 1), got {self.mask_probability}")
        _check_choice("data.window_sampling", self.window_sampling, ("random", "epoch"))


@dataclass
class FinetuneConfig:
    """Adapting a pretrained run (train.init_from) to a task: what is trained, and the adapter's shape."""

    task: str = ""  # "" (not a fine-tuning run) | lm (next-token on new text) | classify (labelled JSONL examples)
    # | chat (conversations, loss on the assistant's tokens) | dpo (preference pairs, direct preference optimization)
    method: str = "full"  # full: every weight | head: the task head only | lora: low-rank adapters | prompt: soft prompt
    base_id: str = ""  # fingerprint of the base weights: an adapter loads only onto the base it was trained on
    text_field: str = "text"  # classify: the JSONL field holding the text
    label_field: str = "label"  # classify: the JSONL field holding the label (an integer or a string)
    labels: list[str] = field(default_factory=list)  # classify: the label values, in the head's output order
    max_length: int = 128  # classify: tokens per example (longer texts are cut)
    pooling: str = "auto"  # classify: auto (decoder: last token; encoder: the model's pooling) | last | cls | mean
    lora_rank: int = 8  # r: ΔW = B·A·(alpha/r) with A r x d_in, B d_out x r
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0  # dropout on the adapter's input
    lora_targets: list[str] = field(default_factory=lambda: ["q", "v"])  # q k v o ff_in ff_out (or all)
    prompt_tokens: int = 20  # soft prompt: virtual tokens prepended to every input
    prompt_init: str = ""  # soft prompt: text whose token embeddings start the prompt; empty: random vocabulary rows
    dpo_beta: float = 0.1  # dpo: β, how far the policy may move from the reference (the KL penalty's inverse weight)

    def validate(self) -> None:
        _check_fields(self, "finetune")
        _check_choice("finetune.task", self.task, ("", "lm", "classify", "chat", "dpo"))
        _check_choice("finetune.method", self.method, FINETUNE_METHODS)
        _check_choice("finetune.pooling", self.pooling, ("auto", "last", "cls", "mean"))
        if self.lora_rank <= 0 or self.lora_alpha <= 0:
            raise LanternError(f"finetune.lora_rank and lora_alpha must be positive, got {self.lora_rank} and "
                               f"{self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise LanternError(f"finetune.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        for target in self.lora_targets:
            _check_choice("finetune.lora_targets", target, LORA_TARGETS + ("all",))
        if self.prompt_tokens <= 0 or self.max_length <= 0:
            raise LanternError(f"finetune.prompt_tokens and max_length must be positive, got {self.prompt_tokens} "
                               f"and {self.max_length}")
        if self.task in ("lm", "chat", "dpo") and self.method == "head":
            raise LanternError("finetune.method = head needs a task head (task = classify)")
        if self.task == "dpo" and self.method != "lora":
            raise LanternError("preference tuning (dpo) trains a LoRA adapter: its reference model is the base with "
                               "the adapter off, so no second copy is held (use method = lora)")
        if not 0 < self.dpo_beta <= 100:
            raise LanternError(f"finetune.dpo_beta must be in (0, 100], got {self.dpo_beta}")
        if self.task == "classify" and len(self.labels) == 1:
            raise LanternError("a classifier needs at least two labels")


FINETUNE_METHODS = ("full", "head", "lora", "prompt")
LORA_TARGETS = ("q", "k", "v", "o", "ff_in", "ff_out")  # attention query/key/value/output; feed-forward in/out


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def validate(self) -> "RunConfig":
        self.model.validate()
        self.train.validate()
        self.data.validate()
        self.finetune.validate()
        return self

    @property
    def window_size(self) -> int:
        """Tokens in a training window: model.block_size, less the positions a soft prompt takes (next-token
        prompt tuning puts finetune.prompt_tokens vectors before every window)."""
        ft = self.finetune
        return self.model.block_size - (ft.prompt_tokens if ft.task in ("lm", "chat") and ft.method == "prompt" else 0)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    def to_toml(self) -> str:
        lines = ["# Resolved Lantern run configuration (feed back with --config)."]
        for section, values in self.to_dict().items():
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "RunConfig":
        config = cls()
        for section, values in data.items():
            if section not in SECTIONS:
                raise LanternError(f"{source}: unknown section [{section}] (expected one of {', '.join(SECTIONS)})")
            if not isinstance(values, dict):
                raise LanternError(f"{source}: [{section}] must be a table")
            for key, value in values.items():
                set_field(config, f"{section}.{key}", value, source=source)
        return config


SECTIONS = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig, "finetune": FinetuneConfig}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _all_keys() -> dict[str, str]:
    """Map every accepted key (bare and dotted) to its dotted form."""
    keys: dict[str, str] = {}
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            keys[f"{section}.{f.name}"] = f"{section}.{f.name}"
            keys.setdefault(f.name, f"{section}.{f.name}")
    return keys


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Convert a TOML value or a `--set` string to the type of the field's default."""
    expected = type(default)
    if isinstance(value, str) and expected is not str:
        text = value.strip()
        try:
            if expected is bool:
                if text.lower() in ("true", "1", "yes", "on"):
                    return True
                if text.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if expected is int:
                if text.lstrip("+-").isdigit():
                    return int(text)
                number = float(text)  # accepts 5e3
                if not number.is_integer():
                    raise ValueError
                return int(number)
            if expected is float:
                return _finite(float(text), key)
            if expected is list:
                return [part.strip() for part in text.split(",") if part.strip()]
        except ValueError:
            raise LanternError(f"{key}: expected {expected.__name__}, got {value!r}") from None
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(float(value), key)
    if expected is list and isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise LanternError(f"{key}: expected {expected.__name__}, got {value!r}")
    return value


def _finite(value: float, key: str) -> float:
    if not math.isfinite(value):
        raise LanternError(f"{key}: expected a finite number, got {value}")
    return value


def set_field(config: RunConfig, key: str, value: Any, source: str = "--set") -> None:
    keys = _all_keys()
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise LanternError(f"{source}: unknown config key {key!r}{hint}")
    section, name = keys[key].split(".")
    target = getattr(config, section)
    spec = next(f for f in fields(target) if f.name == name)
    default = _field_default(spec)
    setattr(config, section, replace(target, **{name: _coerce(value, default, f"{source} {key}")}))


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply `key=value` strings in order."""
    for item in overrides:
        if "=" not in item:
            raise LanternError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        set_field(config, key.strip(), value)
    return config


def preset_names() -> list[str]:
    folder = resources.files("lanternlm") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> RunConfig:
    path = resources.files("lanternlm") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise LanternError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    return RunConfig.from_dict(read_toml(path), source=f"preset {name}")


def load_config_file(path: str | Path) -> RunConfig:
    return RunConfig.from_dict(read_toml(Path(path)), source=str(path))


def resolve_config(preset: str | None = None, config_file: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Preset or config file (not both), then `--set` overrides, then validation."""
    if preset and config_file:
        raise LanternError("give --preset or --config, not both")
    if config_file:
        config = load_config_file(config_file)
    else:
        config = load_preset(preset) if preset else RunConfig()
    return apply_overrides(config, overrides or []).validate()
