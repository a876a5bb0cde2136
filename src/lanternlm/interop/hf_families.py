"""The Hugging Face families Lantern can read and write: how their config.json and tensor names map to ours.

Each family says which Lantern options it implies (`fixed`), how to translate its config.json to and from a
`ModelConfig`, and `links`: for every Lantern tensor, the HF tensor(s) it is made of. Several HF tensors are
concatenated along dim 0 (Llama's separate q/k/v projections become our fused `c_attn`, gate and up become
the gated `c_fc`); GPT-2's `Conv1D` stores weights as (in, out), so they are transposed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..config import ModelConfig
from ..errors import LanternError


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
    prefix: str  # the model prefix of tensor names, which some (older) files omit
    ignored: tuple[str, ...] = ()  # HF tensor-name endings that are buffers, not weights


# ----------------------------------------------------------------------------- GPT-2
GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu",
                    "silu": "silu", "swish": "silu"}


def _gpt2_from_hf(hf: dict[str, Any]) -> dict[str, Any]:
    act = hf.get("activation_function", "gelu_new")
    if act not in GPT2_ACTIVATIONS:
        raise LanternError(f"GPT-2 activation_function {act!r} is not supported")
    if hf.get("scale_attn_by_inverse_layer_idx") or not hf.get("scale_attn_weights", True):
        raise LanternError("GPT-2 attention scaling other than 1/sqrt(d_head) is not supported")
    return {"vocab_size": hf["vocab_size"], "block_size": hf["n_positions"], "n_layer": hf["n_layer"],
            "n_head": hf["n_head"], "n_embd": hf["n_embd"], "d_ff": hf.get("n_inner") or 0,
            "activation": GPT2_ACTIVATIONS[act], "norm_eps": hf.get("layer_norm_epsilon", 1e-5),
            "dropout": hf.get("resid_pdrop", 0.0), "attn_dropout": hf.get("attn_pdrop", 0.0),
            "tie_embeddings": hf.get("tie_word_embeddings", True)}


def _gpt2_to_hf(c: ModelConfig) -> dict[str, Any]:
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu"}[c.activation]
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
    return links if c.tie_embeddings else links + [Link("lm_head.weight", ("lm_head.weight",))]


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
    return links if c.tie_embeddings else links + [Link("lm_head.weight", ("lm_head.weight",))]


# A tuple lists the allowed values of an option; anything else is the one value it must have.
GPT2_FIXED = {"position": "learned", "norm": "layernorm", "norm_placement": "pre", "bias": True,
              "activation": tuple(GPT2_ACTIVATIONS.values()), "attention_kind": "multi-head", "qk_norm": False,
              "sliding_window": 0, "n_expert": 0}
LLAMA_FIXED = {"position": "rope", "norm": "rmsnorm", "norm_placement": "pre", "activation": "swiglu",
               "qk_norm": False, "dropout": 0.0}

ROPE_BUFFERS = (".rotary_emb.inv_freq",)
FAMILIES: dict[str, Family] = {
    "gpt2": Family("gpt2", "GPT2LMHeadModel", GPT2_FIXED, _gpt2_from_hf, _gpt2_to_hf, _gpt2_links, "transformer.",
                   ignored=(".attn.bias", ".attn.masked_bias")),
    "llama": Family("llama", "LlamaForCausalLM", {**LLAMA_FIXED, "sliding_window": 0, "n_expert": 0},
                    _llama_from_hf, _llama_to_hf, _llama_links, "model.", ROPE_BUFFERS),
    "mistral": Family("mistral", "MistralForCausalLM", {**LLAMA_FIXED, "bias": False, "n_expert": 0},
                      _llama_from_hf, _llama_to_hf, _llama_links, "model.", ROPE_BUFFERS),
    "mixtral": Family("mixtral", "MixtralForCausalLM", {**LLAMA_FIXED, "bias": False}, _llama_from_hf,
                      _llama_to_hf, _llama_links, "model.", ROPE_BUFFERS),
}


def family_for(c: ModelConfig) -> Family:
    """The HF family a Lantern config is an instance of, or a LanternError naming the options in the way."""
    if c.n_expert:
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
