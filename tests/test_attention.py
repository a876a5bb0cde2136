import torch
import torch.nn.functional as F

from lanternlm.config import ModelConfig
from lanternlm.models import build_model
from lanternlm.nn import CausalSelfAttention, attention_reference


def test_reference_equals_fused_with_and_without_mask():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    for causal in (True, False):
        ours, weights = attention_reference(q, k, v, causal=causal)
        fused = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.testing.assert_close(ours, fused, atol=1e-5, rtol=0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 10))
    _, weights = attention_reference(q, k, v, causal=True)
    assert torch.all(weights.triu(diagonal=1) == 0)  # no weight on future positions


def test_module_paths_agree_and_return_pattern():
    torch.manual_seed(0)
    attn = CausalSelfAttention(n_embd=16, n_head=4).eval()
    x = torch.randn(2, 7, 16)
    fused, none = attn(x)
    ref, weights = attn(x, return_attention=True)
    assert none is None and weights.shape == (2, 4, 7, 7)
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)


def test_model_is_causal():
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = torch.randint(20, (1, 12))
    changed = idx.clone()
    t = 7
    changed[0, t] = (idx[0, t] + 1) % 20
    a, b = model(idx).logits, model(changed).logits
    torch.testing.assert_close(a[:, :t], b[:, :t], atol=0, rtol=0)  # positions before t see nothing of t
    assert not torch.allclose(a[:, t:], b[:, t:])


def test_reference_equals_fused_with_padding_mask():
    """Bidirectional and causal, MHA and GQA: padded keys get no weight and both paths agree."""
    torch.manual_seed(0)
    x = torch.randn(3, 9, 16)
    key_mask = torch.ones(3, 9, dtype=torch.bool)
    key_mask[1, 6:] = False
    key_mask[2, 3:] = False
    for causal in (False, True):
        for n_kv_head in (4, 2, 1):
            attn = CausalSelfAttention(n_embd=16, n_head=4, n_kv_head=n_kv_head, causal=causal).eval()
            fused, _ = attn(x, key_mask=key_mask)
            ref, weights = attn(x, return_attention=True, key_mask=key_mask)
            torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
            torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 9))
            assert torch.all(weights[1, :, :, 6:] == 0) and torch.all(weights[2, :, :, 3:] == 0)
            assert torch.all(weights.triu(diagonal=1) == 0) == causal  # bidirectional rows look ahead too


def test_bidirectional_attention_without_mask_matches_sdpa():
    torch.manual_seed(0)
    attn = CausalSelfAttention(n_embd=16, n_head=2, causal=False).eval()
    x = torch.randn(2, 7, 16)
    fused, _ = attn(x)
    ref, weights = attn(x, return_attention=True)
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
    assert torch.all(weights > 0)  # every position sees every other one
