"""gpt-mini and its no-skip twin: shapes, the skip switch, tied weights, checkpoints."""

from __future__ import annotations

import pytest
import torch

from models import create_model, list_models
from models.checkpoint import load_checkpoint, save_checkpoint
from models.gpt import GPT


def test_the_zoo_lists_both_twins_with_equal_parameters():
    assert {"gpt-mini", "gpt-mini-noskip"} <= set(list_models())
    skip, plain = create_model("gpt-mini", seed=0), create_model("gpt-mini-noskip", seed=0)
    assert skip.skip and not plain.skip
    assert [(k, p.shape) for k, p in skip.named_parameters()] == \
        [(k, p.shape) for k, p in plain.named_parameters()]
    # 4 blocks of width 64: 12·64² + 13·64 each, embeddings 2·64·64, three LayerNorms per block
    per_block = 12 * 64 * 64 + 9 * 64 + 4 * 64
    assert sum(p.numel() for p in skip.parameters()) == 4 * per_block + 2 * 64 * 64 + 2 * 64


def test_logits_per_token_and_causality():
    net = create_model("gpt-mini", seed=0).eval()
    x = torch.randint(0, 64, (2, 16))
    out = net(x)
    assert out.shape == (2, 16, 64)
    changed = x.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 64
    again = net(changed)
    torch.testing.assert_close(again[:, :10], out[:, :10])      # the past ignores the future
    assert not torch.allclose(again[:, 10:], out[:, 10:])


def test_noskip_block_is_the_branches_alone():
    torch.manual_seed(0)
    net = GPT(depth=1, width=16, heads=2, vocab_size=8, block_size=8, skip=False).eval()
    block = net.blocks[0]
    x = torch.randn(2, 5, 16)
    expected = block.mlp(block.ln2(block.attn(block.ln1(x))))
    torch.testing.assert_close(block(x), expected)
    block.skip = True
    h = x + block.attn(block.ln1(x))
    torch.testing.assert_close(block(x), h + block.mlp(block.ln2(h)))


def test_tied_head_is_one_tensor_and_untied_is_two():
    tied = GPT(depth=1, width=16, heads=2, vocab_size=8)
    assert "tok.weight" in tied.state_dict() and not any(k.startswith("head") for k in
                                                          tied.state_dict())
    untied = GPT(depth=1, width=16, heads=2, vocab_size=8, tie_weights=False)
    assert "head.weight" in dict(untied.named_parameters())


def test_zero_init_residual_makes_each_block_the_identity():
    net = GPT(depth=2, width=16, heads=2, vocab_size=8, zero_init_residual=True).eval()
    x = torch.randn(1, 4, 16)
    torch.testing.assert_close(net.blocks[0](x), x)


def test_bad_sizes_and_long_sequences_are_refused():
    with pytest.raises(ValueError, match="multiple of heads"):
        GPT(width=10, heads=4)
    with pytest.raises(ValueError, match="vocabulary size"):
        GPT(vocab_size=10, num_classes=12)
    net = GPT(depth=1, width=16, heads=2, vocab_size=8, block_size=4)
    with pytest.raises(ValueError, match="block size 4"):
        net(torch.zeros(1, 5, dtype=torch.long))


def test_checkpoint_round_trip_rebuilds_the_twin(tmp_path):
    net = create_model("gpt-mini-noskip", seed=3, depth=2)
    save_checkpoint(tmp_path / "g.pt", net, meta={"dataset": "tokens"})
    back, meta = load_checkpoint(tmp_path / "g.pt")
    assert meta["arch"] == "gpt-mini-noskip" and meta["skip"] is False and len(back.blocks) == 2
    x = torch.randint(0, 64, (2, 8))
    torch.testing.assert_close(back(x), net.eval()(x))
