"""The Hugging Face families Lantern can read and write: how their config.json and tensor names map to ours.

Each family says which Lantern options it implies (`fixed`), how to translate its config.json to and from a
`ModelConfig`, and `links`: for every Lantern tensor, the HF tensor(s) it is made of. Several HF tensors are
concatenated along dim 0 (Llama's and BERT's separate q/k/v projections become our fused `c_attn`, gate and
up become the gated `c_fc`); GPT-2's `Conv1D` stores weights as (in, out), so they are transposed. A head
tied to the token embedding links to the embedding's tensor. BERT also reads and writes files beside the
weights: which heads the checkpoint holds and sentence-transformers' pooling (`hf_pooling`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import ModelConfig
from ..errors import LanternError
from .hf_pooling import read_pooling, write_pooling


@dataclass(frozen=True)
class Link:
    """Lantern tensor `ours` = cat(HF tensors `theirs`, dim 0), transposed when `transpose`; `sizes` splits back."""

    ours: str
    theirs: tuple[str, ...]
    sizes: tuple[int, ...] | None = None
    transpose: bool = False


@dataclass(frozen=True)
class Family:
    model_type: str
    architecture: str
    fixed: dict[str, Any]  # the Lantern options this family always has (a tuple: one of these)
    from_hf: Callable[[dict[str, Any]], dict[str, Any]]  # config.json -> ModelConfig fields
    to_hf: Callable[[ModelConfig], dict[str, Any]]  # ModelConfig -> config.json fields
    links: Callable[[ModelConfig], list[Link]]
    prefix: str  # the model prefix of tensor names, which some files (and every bare base model) omit
    ignored: tuple[str, ...] = ()  # HF tensor-name endings Lantern drops: buffers, copies of tied tensors
    heads: tuple[str, ...] = ("lm_head.",)  # name prefixes of head tensors, which never carry the model prefix
    # options the tensor names and the directory's other files imply, beyond config.json
    read_extras: Callable[[Path, set[str]], dict[str, Any]] | None = None
    # completes an exported directory: tensors HF needs that Lantern lacks, files beside the weights
    write_extras: Callable[[ModelConfig, dict[str, torch.Tensor], Path], None] | None = None


def output_matrix(c: ModelConfig, ours: str, embedding: str, head: str) -> Link:
    """The output (unembedding) matrix: the HF head tensor, or when tied the token embedding read again."""
    return Link(ours, (embedding if c.tie_embeddings else head,))


# ----------------------------------------------------------------------------- GPT-2
HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu",
                  "silu": "silu", "swish": "silu"}  # HF's name -> Lantern's
ACTIVATIONS_TO_HF = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu"}


def _gpt2_from_hf(hf: dict[str, Any]) -> dict[str, Any]:
    act = hf.get("activation_function", "gelu_new")
    if act not in HF_ACTIVATIONS:
        raise LanternError(f"GPT-2 activation_function {act!r} is not supported")
    if hf.get("scale_attn_by_inverse_layer_idx") or not hf.get("scale_attn_weights", True):
        raise LanternError("GPT-2 attention scaling other than 1/sqrt(d_head) is not supported")
    return {"vocab_size": hf["vocab_size"], "block_size": hf["n_positions"], "n_layer": hf["n_layer"],
            "n_head": hf["n_head"], "n_embd": hf["n_embd"], "d_ff": hf.get("n_inner") or 0,
            "activation": HF_ACTIVATIONS[act], "norm_eps": hf.get("layer_norm_epsilon", 1e-5),
            "dropout": hf.get("resid_pdrop", 0.0), "attn_dropout": hf.get("attn_pdrop", 0.0),
            "tie_embeddings": hf.get("tie_word_embeddings", True)}


def _gpt2_to_hf(c: ModelConfig) -> dict[str, Any]:
    act = ACTIVATIONS_TO_HF[c.activation]
    return {"vocab_size": c.vocab_size, "n_positions": c.block_size, "n_layer": c.n_layer, "n_head": c.n_head,
            "n_embd": c.n_embd, "n_inner": c.d_ff or None, "activation_function": act,
            "layer_norm_epsilon": c.norm_eps, "resid_pdrop": c.dropout, "embd_pdrop": c.dropout,
            "attn_pdrop": c.attn_dropout, "tie_word_embeddings": c.tie_embeddings}


def _gpt2_links(c: ModelConfig) -> list[Link]:
    links = [Link("wte.weight", ("transformer.wte.weight",)), Link("wpe.weight", ("transformer.wpe.weight",))]
    for i in range(c.n_layer):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        for name in ("ln_1", "ln_2"):
            links += [Link(f"{b}{name}.{p}", (f"{h}{name}.{p}",)) for p in ("weight", "bias")]
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            links += [Link(f"{b}{name}.weight", (f"{h}{name}.weight",), transpose=True),  # Conv1D: (in, out)
                      Link(f"{b}{name}.bias", (f"{h}{name}.bias",))]
    links += [Link("ln_f.weight", ("transformer.ln_f.weight",)), Link("ln_f.bias", ("transformer.ln_f.bias",))]
    return links + [output_matrix(c, "lm_head.weight", "transformer.wte.weight", "lm_head.weight")]


# ----------------------------------------------------------------------------- Llama, Mistral, Mixtral
def _llama_from_hf(hf: dict[str, Any]) -> dict[str, Any]:
    if hf.get("hidden_act", "silu") != "silu":
        raise LanternError(f"hidden_act {hf['hidden_act']!r} is not supported (Lantern's gated MLP is SwiGLU)")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise LanternError(f"RoPE scaling {rope.get('rope_type', rope.get('type'))!r} is not supported")
    n_head = hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, hf["hidden_size"] // n_head):
        raise LanternError(f"head_dim {hf['head_dim']} != hidden_size / num_attention_heads is not supported")
    if bool(hf.get("attention_bias", False)) != bool(hf.get("mlp_bias", False)):
        raise LanternError("attention_bias and mlp_bias must be equal (Lantern has one bias switch)")
    fields = {"vocab_size": hf["vocab_size"], "block_size": hf["max_position_embeddings"],
              "n_layer": hf["num_hidden_layers"], "n_head": n_head, "n_embd": hf["hidden_size"],
              "n_kv_head": hf.get("num_key_value_heads") or n_head, "d_ff": hf["intermediate_size"],
              "norm_eps": hf.get("rms_norm_eps", 1e-6),
              "rope_theta": float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
              "attn_dropout": hf.get("attention_dropout", 0.0), "bias": bool(hf.get("attention_bias", False)),
              "tie_embeddings": hf.get("tie_word_embeddings", False), "sliding_window": hf.get("sliding_window") or 0}
    if "num_local_experts" in hf:
        fields.update(n_expert=hf["num_local_experts"], n_expert_active=hf.get("num_experts_per_tok", 2),
                      moe_aux_loss_coef=hf.get("router_aux_loss_coef", 0.001))
    return fields


def _llama_to_hf(c: ModelConfig) -> dict[str, Any]:
    hf = {"vocab_size": c.vocab_size, "max_position_embeddings": c.block_size, "num_hidden_layers": c.n_layer,
          "num_attention_heads": c.n_head, "num_key_value_heads": c.kv_heads, "hidden_size": c.n_embd,
          "head_dim": c.head_dim, "intermediate_size": c.ff_dim, "hidden_act": "silu", "rms_norm_eps": c.norm_eps,
          "rope_theta": c.rope_theta, "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
          "attention_dropout": c.attn_dropout, "tie_word_embeddings": c.tie_embeddings}
    if c.n_expert:
        hf.update(num_local_experts=c.n_expert, num_experts_per_tok=c.n_expert_active,
                  router_aux_loss_coef=c.moe_aux_loss_coef, sliding_window=c.sliding_window or None)
    elif c.sliding_window:
        hf["sliding_window"] = c.sliding_window
    else:
        hf.update(attention_bias=c.bias, mlp_bias=c.bias)
    return hf


def _llama_links(c: ModelConfig) -> list[Link]:
    qkv = (c.n_head * c.head_dim, c.kv_heads * c.head_dim, c.kv_heads * c.head_dim)
    params = ("weight", "bias") if c.bias else ("weight",)
    links = [Link("wte.weight", ("model.embed_tokens.weight",))]
    for i in range(c.n_layer):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        links += [Link(f"{b}ln_1.weight", (f"{h}input_layernorm.weight",)),
                  Link(f"{b}ln_2.weight", (f"{h}post_attention_layernorm.weight",))]
        for p in params:
            links += [Link(f"{b}attn.c_attn.{p}", tuple(f"{h}self_attn.{x}_proj.{p}" for x in "qkv"), qkv),
                      Link(f"{b}attn.c_proj.{p}", (f"{h}self_attn.o_proj.{p}",))]
        if c.n_expert:
            moe = f"{h}block_sparse_moe."
            links.append(Link(f"{b}mlp.router.weight", (f"{moe}gate.weight",)))
            for e in range(c.n_expert):
                x = f"{moe}experts.{e}."
                links += [Link(f"{b}mlp.experts.{e}.c_fc.weight", (f"{x}w1.weight", f"{x}w3.weight"), (c.ff_dim,) * 2),
                          Link(f"{b}mlp.experts.{e}.c_proj.weight", (f"{x}w2.weight",))]
        else:
            for p in params:
                links += [Link(f"{b}mlp.c_fc.{p}", (f"{h}mlp.gate_proj.{p}", f"{h}mlp.up_proj.{p}"), (c.ff_dim,) * 2),
                          Link(f"{b}mlp.c_proj.{p}", (f"{h}mlp.down_proj.{p}",))]
    links.append(Link("ln_f.weight", ("model.norm.weight",)))
    return links + [output_matrix(c, "lm_head.weight", "model.embed_tokens.weight", "lm_head.weight")]


# ----------------------------------------------------------------------------- BERT
def _bert_from_hf(hf: dict[str, Any]) -> dict[str, Any]:
    if hf.get("is_decoder") or hf.get("add_cross_attention"):
        raise LanternError("BERT as a decoder (is_decoder, add_cross_attention) is not supported")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise LanternError(f"BERT position_embedding_type {hf['position_embedding_type']!r} is not supported")
    act = hf.get("hidden_act", "gelu")
    if act not in HF_ACTIVATIONS:
        raise LanternError(f"BERT hidden_act {act!r} is not supported")
    return {"vocab_size": hf["vocab_size"], "block_size": hf["max_position_embeddings"],
            "n_layer": hf["num_hidden_layers"], "n_head": hf["num_attention_heads"], "n_embd": hf["hidden_size"],
            "d_ff": hf["intermediate_size"], "activation": HF_ACTIVATIONS[act],
            "norm_eps": hf.get("layer_norm_eps", 1e-12), "dropout": hf.get("hidden_dropout_prob", 0.1),
            "attn_dropout": hf.get("attention_probs_dropout_prob", 0.1),
            "type_vocab_size": hf.get("type_vocab_size", 2), "tie_embeddings": hf.get("tie_word_embeddings", True)}


def _bert_to_hf(c: ModelConfig) -> dict[str, Any]:
    return {"vocab_size": c.vocab_size, "max_position_embeddings": c.block_size, "num_hidden_layers": c.n_layer,
            "num_attention_heads": c.n_head, "hidden_size": c.n_embd, "intermediate_size": c.ff_dim,
            "hidden_act": ACTIVATIONS_TO_HF[c.activation], "layer_norm_eps": c.norm_eps,
            "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.attn_dropout,
            "type_vocab_size": max(c.type_vocab_size, 1), "position_embedding_type": "absolute",
            "tie_word_embeddings": c.tie_embeddings}


def _bert_links(c: ModelConfig) -> list[Link]:
    e = "bert.embeddings."
    pairs = [("wte.weight", f"{e}word_embeddings.weight"), ("wpe.weight", f"{e}position_embeddings.weight")]
    if c.type_vocab_size:
        pairs.append(("wtt.weight", f"{e}token_type_embeddings.weight"))
    parts = [("ln_emb", f"{e}LayerNorm")]
    for i in range(c.n_layer):
        h, b = f"bert.encoder.layer.{i}.", f"blocks.{i}."
        parts += [(f"{b}attn.c_proj", f"{h}attention.output.dense"), (f"{b}ln_1", f"{h}attention.output.LayerNorm"),
                  (f"{b}mlp.c_fc", f"{h}intermediate.dense"), (f"{b}mlp.c_proj", f"{h}output.dense"),
                  (f"{b}ln_2", f"{h}output.LayerNorm")]
    if c.pooler:
        parts.append(("pooler", "bert.pooler.dense"))
    if c.mlm_head:
        t = "cls.predictions."
        parts += [("mlm_head.dense", f"{t}transform.dense"), ("mlm_head.norm", f"{t}transform.LayerNorm")]
        # HF holds the decoder bias twice, `bias` and `decoder.bias`: tied to each other, or with an untied head
        # two parameters of which only decoder.bias is used (so it comes last: on import the later link wins)
        biases = ("bias",) if c.tie_embeddings else ("bias", "decoder.bias")
        pairs += [("mlm_head.decoder.bias", f"{t}{name}") for name in biases]
    links = [Link(ours, (theirs,)) for ours, theirs in pairs]
    links += [Link(f"{ours}.{p}", (f"{theirs}.{p}",)) for ours, theirs in parts for p in ("weight", "bias")]
    for i in range(c.n_layer):  # separate query, key, value projections -> our fused c_attn
        h = f"bert.encoder.layer.{i}.attention.self."
        links += [Link(f"blocks.{i}.attn.c_attn.{p}", tuple(f"{h}{x}.{p}" for x in ("query", "key", "value")),
                       (c.n_embd,) * 3) for p in ("weight", "bias")]
    if c.mlm_head:
        links.append(output_matrix(c, "mlm_head.decoder.weight", f"{e}word_embeddings.weight",
                                   "cls.predictions.decoder.weight"))
    return links


def _bert_read_extras(directory: Path, names: set[str]) -> dict[str, Any]:
    """The heads come from the tensors (BertModel has a pooler, BertForMaskedLM the MLM head, BertForPreTraining
    both); pooling and normalisation from sentence-transformers' files, when present."""
    return {"mlm_head": any(name.startswith("cls.predictions.") for name in names),
            "pooler": any(name.endswith("pooler.dense.weight") for name in names), **read_pooling(directory)}


def _bert_write_extras(c: ModelConfig, tensors: dict[str, torch.Tensor], directory: Path) -> None:
    """HF BERT always has segment embeddings: a model without them gets one all-zero row (adds nothing)."""
    if not c.type_vocab_size:
        tensors["bert.embeddings.token_type_embeddings.weight"] = torch.zeros(1, c.n_embd)
    write_pooling(c, directory)


# A tuple lists the allowed values of an option; anything else is the one value it must have.
GPT2_FIXED = {"position": "learned", "norm": "layernorm", "norm_placement": "pre", "bias": True,
              "activation": tuple(HF_ACTIVATIONS.values()), "attention_kind": "multi-head", "qk_norm": False,
              "sliding_window": 0, "n_expert": 0}
LLAMA_FIXED = {"position": "rope", "norm": "rmsnorm", "norm_placement": "pre", "activation": "swiglu",
               "qk_norm": False, "dropout": 0.0}
BERT_FIXED = {"family": "bert", "position": "learned", "norm": "layernorm", "norm_placement": "post", "bias": True,
              "activation": tuple(HF_ACTIVATIONS.values()), "attention_kind": "multi-head", "qk_norm": False}

LLAMA_IGNORED = (".rotary_emb.inv_freq", "lm_head.weight")  # a buffer; a tied head some files store anyway
FAMILIES: dict[str, Family] = {
    "gpt2": Family("gpt2", "GPT2LMHeadModel", GPT2_FIXED, _gpt2_from_hf, _gpt2_to_hf, _gpt2_links, "transformer.",
                   ignored=(".attn.bias", ".attn.masked_bias", "lm_head.weight")),
    "llama": Family("llama", "LlamaForCausalLM", {**LLAMA_FIXED, "sliding_window": 0, "n_expert": 0},
                    _llama_from_hf, _llama_to_hf, _llama_links, "model.", LLAMA_IGNORED),
    "mistral": Family("mistral", "MistralForCausalLM", {**LLAMA_FIXED, "bias": False, "n_expert": 0},
                      _llama_from_hf, _llama_to_hf, _llama_links, "model.", LLAMA_IGNORED),
    "mixtral": Family("mixtral", "MixtralForCausalLM", {**LLAMA_FIXED, "bias": False}, _llama_from_hf,
                      _llama_to_hf, _llama_links, "model.", LLAMA_IGNORED),
    # the next-sentence head (cls.seq_relationship) of BertForPreTraining is dropped: Lantern never trains it
    "bert": Family("bert", "BertModel", BERT_FIXED, _bert_from_hf, _bert_to_hf, _bert_links, "bert.",
                   ignored=("embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
                            "cls.seq_relationship.weight", "cls.seq_relationship.bias"),
                   heads=("cls.",), read_extras=_bert_read_extras, write_extras=_bert_write_extras),
}
BERT_MLM = replace(FAMILIES["bert"], architecture="BertForMaskedLM")  # one model_type, two architectures


def bert_family(c: ModelConfig) -> Family:
    """BertForMaskedLM when the model has the MLM head, else BertModel (which keeps the pooler)."""
    return BERT_MLM if c.mlm_head else FAMILIES["bert"]


def family_for(c: ModelConfig) -> Family:
    """The HF family a Lantern config is an instance of, or a LanternError naming the options in the way."""
    if c.family not in ("gpt", "bert"):
        raise LanternError(f"the {c.family} family has no Hugging Face equivalent (only gpt and bert runs export)")
    if c.family == "bert":
        family = bert_family(c)
    elif c.n_expert:
        family = FAMILIES["mixtral"]
    elif c.position == "learned":
        family = FAMILIES["gpt2"]
    else:
        family = FAMILIES["mistral" if c.sliding_window else "llama"]
    bad = [f"{name}={getattr(c, name)!r}" for name, want in family.fixed.items()
           if (getattr(c, name) not in want if isinstance(want, tuple) else getattr(c, name) != want)]
    if bad:
        wants = ", ".join(f"{k}={v!r}" for k, v in family.fixed.items() if not isinstance(v, tuple))
        raise LanternError(f"this model has no Hugging Face equivalent: {', '.join(bad)} (the nearest family, "
                           f"{family.architecture}, needs {wants})")
    return family
