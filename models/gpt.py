"""A small causal transformer (pre-LN GPT) with a switch that removes its residual stream.

The skip story of He et al. one architecture later: `GPT(skip=True)` is a pre-LN decoder as in
GPT-2 (Radford et al. 2019) and nanoGPT, x ← x + attn(LN(x)); x ← x + mlp(LN(x)); with
`skip=False` every block computes x ← attn(LN(x)); x ← mlp(LN(x)), with the same parameters,
so the two twins differ only in the additions of the residual stream.

    >>> from models import create_model
    >>> net = create_model("gpt-mini")             # 4 layers, width 64, 4 heads, 64 tokens
    >>> net(torch.zeros(2, 16, dtype=torch.long)).shape
    torch.Size([2, 16, 64])

Inputs are token ids (B, T) int64 with T <= `block_size`; outputs are logits (B, T, vocab). The
language-model head shares its weight with the token embedding (`tie_weights`), so the
parameters and the state_dict hold it once, as `tok.weight`. Attention runs through
`F.scaled_dot_product_attention`; its fused
kernels have no double backward, so Hessian code selects the math kernel
(`torch.nn.attention.sdpa_kernel`), which does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GPT", "Block", "CausalSelfAttention", "gpt_mini"]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one `qkv` projection (3·width rows: the queries, keys
    and values of head 0, 1, ... in that order) and an output projection `proj`."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width must be a multiple of heads, got width={width}, "
                             f"heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.qkv(x).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """Pre-LN transformer block; `skip=False` drops both residual additions."""

    def __init__(self, width: int, heads: int, mlp_ratio: int = 4, skip: bool = True) -> None:
        super().__init__()
        self.skip = skip
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(),
                                 nn.Linear(mlp_ratio * width, width))

    def forward(self, x: Tensor) -> Tensor:
        if self.skip:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        return self.mlp(self.ln2(self.attn(self.ln1(x))))


class GPT(nn.Module):
    """A decoder-only transformer: token and position embeddings, `depth` pre-LN blocks, a
    final LayerNorm and a linear head over the vocabulary.

    Args:
        vocab_size: tokens the model reads and scores (the head's outputs).
        block_size: longest sequence it reads (rows of the position embedding).
        depth: number of blocks.
        width: model width (embedding size); a multiple of `heads`.
        heads: attention heads per block.
        mlp_ratio: hidden width of the MLP over `width`.
        skip: keep the residual additions (False: the no-skip twin).
        zero_init_residual: zero the last projection of every attention and MLP branch, so each
            block starts as the identity (a no-skip twin then starts at a constant output).
        num_classes: the zoo's name for the head size: the same as `vocab_size` (either may be
            given; both must agree).
        tie_weights: the head reuses the token embedding's weight (GPT-2, nanoGPT); there is
            then no `head` module.
    """

    def __init__(self, *, vocab_size: int | None = None, block_size: int = 64, depth: int = 4,
                 width: int = 64, heads: int = 4, mlp_ratio: int = 4, skip: bool = True,
                 zero_init_residual: bool = False, num_classes: int | None = None,
                 tie_weights: bool = True) -> None:
        super().__init__()
        if vocab_size is not None and num_classes is not None and vocab_size != num_classes:
            raise ValueError(f"num_classes is the vocabulary size of a language model; got "
                             f"vocab_size={vocab_size} and num_classes={num_classes}")
        vocab = vocab_size or num_classes or 64
        for name, value in (("vocab_size", vocab), ("block_size", block_size),
                            ("depth", depth), ("width", width), ("heads", heads),
                            ("mlp_ratio", mlp_ratio)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.vocab_size, self.block_size, self.skip = vocab, block_size, skip
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(block_size, width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, skip) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width)
        # tied: the head is the token embedding itself, one tensor under one name
        self.head = None if tie_weights else nn.Linear(width, vocab, bias=False)
        self._init(depth, zero_init_residual)

    def _init(self, depth: int, zero_init_residual: bool) -> None:
        """GPT-2's: N(0, 0.02) for linear and embedding weights, zero biases, and the branch
        outputs scaled by 1/sqrt(2·depth)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            for out in (block.attn.proj, block.mlp[2]):
                if zero_init_residual:
                    nn.init.zeros_(out.weight)
                else:
                    nn.init.normal_(out.weight, std=0.02 / math.sqrt(2 * depth))

    def forward(self, idx: Tensor) -> Tensor:
        """Logits (B, T, vocab_size) of the next token at every position of `idx` (B, T)."""
        t = idx.shape[-1]
        if t > self.block_size:
            raise ValueError(f"the sequence has {t} tokens, more than the block size "
                             f"{self.block_size} of this model; use shorter blocks "
                             f"(--block-size {self.block_size}) or a model built with "
                             f"block_size={t}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return F.linear(x, self.tok.weight) if self.head is None else self.head(x)


def gpt_mini(**kwargs: Any) -> GPT:
    """gpt-mini: 4 pre-LN blocks, width 64, 4 heads, 64 tokens of vocabulary and of context
    (about 0.2 M parameters); `skip=False` gives gpt-mini-noskip."""
    return GPT(**kwargs)
