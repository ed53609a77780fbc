"""Filter normalization on a transformer's tensors: rows, token rows, heads, Conv1D, LayerNorm,
tied embeddings and half-precision weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.engine.directions import (
    create_directions,
    normalize_direction,
    parameter_units,
    random_direction,
)
from landscape.engine.params import get_params, state_tensors
from models.gpt import GPT


def _net() -> GPT:
    torch.manual_seed(0)
    return GPT(vocab_size=11, block_size=6, depth=2, width=12, heads=3).double()


def _row_norms(t: torch.Tensor, axis: int = 0, size: int = 1) -> torch.Tensor:
    moved = t.movedim(axis, 0)
    return moved.reshape(moved.shape[0] // size, -1).norm(dim=1)


def test_filter_rule_on_a_gpt_rows_token_rows_and_layernorm():
    net = _net()
    params = get_params(net)
    assert parameter_units(net, params) == {}                  # all filters along dim 0
    (d,), _ = create_directions(params, ndim=1, seed=1)
    for name in ("blocks.0.attn.qkv.weight", "blocks.1.mlp.0.weight", "tok.weight",
                 "pos.weight"):
        torch.testing.assert_close(_row_norms(d[name]), _row_norms(params[name]))
    for name in ("blocks.0.ln1.weight", "blocks.0.ln1.bias", "ln_f.weight",
                 "blocks.0.attn.qkv.bias"):
        assert not d[name].any()                               # LayerNorm as BN: not moved
    (kept,), _ = create_directions(params, ndim=1, seed=1, ignore="none")
    assert kept["ln_f.weight"].norm() == pytest.approx(float(params["ln_f.weight"].norm()))


def test_per_head_units_of_qkv_and_the_output_projection():
    net = _net()
    params = get_params(net)
    units = parameter_units(net, params, per_head=True)
    assert units["blocks.0.attn.qkv.weight"] == (0, 4)         # width 12 / 3 heads = 4 rows
    assert units["blocks.1.attn.proj.weight"] == (1, 4)        # 4 columns read one head
    assert "blocks.0.mlp.0.weight" not in units
    (d,), _ = create_directions(params, ndim=1, seed=2, norm="head", units=units)
    qkv, proj = "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight"
    torch.testing.assert_close(_row_norms(d[qkv], 0, 4), _row_norms(params[qkv], 0, 4))
    assert len(_row_norms(d[qkv], 0, 4)) == 9                  # q, k, v of 3 heads
    torch.testing.assert_close(_row_norms(d[proj], 1, 4), _row_norms(params[proj], 1, 4))
    # within a head the rows keep the random direction's own proportions, not θ*'s
    assert not torch.allclose(_row_norms(d[qkv]), _row_norms(params[qkv]))


class Conv1D(nn.Module):
    """The layout of Hugging Face's GPT-2 linear layers: weight (in, out), y = x W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(nf, dtype=torch.float64))


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.num_heads = 2
        self.c_attn = Conv1D(3 * 8, 8)
        self.c_proj = Conv1D(8, 8)


def test_conv1d_filters_are_columns_and_heads_are_column_blocks():
    torch.manual_seed(0)
    block = nn.ModuleDict({"attn": Attention(), "fc": Conv1D(5, 8)})
    params = get_params(block)
    assert parameter_units(block, params) == {"attn.c_attn.weight": (1, 1),
                                              "attn.c_proj.weight": (1, 1),
                                              "fc.weight": (1, 1)}
    heads = parameter_units(block, params, per_head=True)
    assert heads["attn.c_attn.weight"] == (1, 4) and heads["attn.c_proj.weight"] == (0, 4)
    d = normalize_direction(random_direction(params, generator=torch.Generator().manual_seed(0)),
                            params, units=parameter_units(block, params))
    torch.testing.assert_close(d["fc.weight"].norm(dim=0), params["fc.weight"].norm(dim=0))


def test_tied_embedding_counts_once():
    net = GPT(vocab_size=11, depth=1, width=12, heads=3, tie_weights=False)
    net.head.weight = net.tok.weight                           # tied by hand, as HF models do
    assert "head.weight" not in get_params(net)
    assert "head.weight" not in state_tensors(net) and "tok.weight" in state_tensors(net)
    assert list(get_params(net, "states")).count("tok.weight") == 1
    assert "head.weight" not in get_params(net, "states")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_norms_accumulate_beyond_half_precision_range(dtype):
    # 300 x 400 entries of size ~1: a sum of squares of 120,000 overflows fp16 (max 65,504)
    params = {"w": torch.ones(300, 400, dtype=dtype), "v": torch.full((1, 120_000), 2.0,
                                                                     dtype=dtype)}
    d = random_direction(params, generator=torch.Generator().manual_seed(0))
    for norm in ("filter", "layer"):
        out = normalize_direction(d, params, norm)
        assert all(torch.isfinite(t).all() and t.dtype == dtype for t in out.values())
        whole = out["v"].double().norm()
        assert float(whole) == pytest.approx(2.0 * 120_000 ** 0.5, rel=1e-2), norm
    out = normalize_direction(d, params, "model")
    total = sum(float(t.double().pow(2).sum()) for t in out.values()) ** 0.5
    assert total == pytest.approx((120_000 + 4 * 120_000) ** 0.5, rel=1e-2)
