"""The embedded token corpus and nanoGPT token files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.data import evaluation_tensors, load_dataset
from models.tokens import TOKEN_VOCAB, _chain, corpus_entropies, token_corpus, token_files


def test_corpus_is_seeded_nested_and_shifted():
    a = token_corpus("train", 600, seed=0, block_size=16)
    b = token_corpus("train", 900, seed=0, block_size=16)
    x, y = a.tensors
    assert x.shape == y.shape == (600, 16) and x.dtype == torch.int64
    torch.testing.assert_close(b.tensors[0][:600], x)                 # nested in n
    torch.testing.assert_close(x[:, 1:], y[:, :-1])                   # next-token targets
    assert not torch.equal(token_corpus("train", 600, seed=1, block_size=16).tensors[0], x)
    assert not torch.equal(token_corpus("test", 600, seed=0, block_size=16).tensors[0], x)
    assert int(x.min()) >= 0 and int(x.max()) < TOKEN_VOCAB == a.vocab_size


def test_corpus_follows_its_chain_and_copies():
    x, y = token_corpus("train", 1000, seed=0, block_size=32).tensors
    table = _chain(0)
    assert (table > 0).sum(1).tolist() == [4] * TOKEN_VOCAB
    allowed = table[x.flatten(), y.flatten()] > 0
    # every transition is one of the chain's, except at the two edges of a copy (half the
    # sequences, 2 of 32 transitions, each right by chance now and then)
    assert 0.95 < allowed.double().mean() < 0.99
    seqs = torch.cat([x, y[:, -1:]], 1)
    copied = [any(torch.equal(s[i:i + 8], s[j:j + 8]) for i in range(0, 10)
                  for j in range(16, 26)) for s in seqs[:200]]
    assert 0.35 < np.mean(copied) < 0.65                                # half have a copy


def test_entropies_of_the_chain():
    h = corpus_entropies(0)
    four = -sum(p * math.log(p) for p in (0.6, 0.25, 0.1, 0.05))
    assert h["chain"] == pytest.approx(four)
    assert 3.5 < h["unigram"] <= math.log(TOKEN_VOCAB)
    x, _ = token_corpus("train", 2000, seed=0).tensors
    p = torch.bincount(x.flatten(), minlength=TOKEN_VOCAB).double()
    p = p / p.sum()
    measured = -float((p * p.clamp_min(1e-12).log()).sum())
    assert measured == pytest.approx(h["unigram"], abs=0.05)


def test_corpus_limits():
    with pytest.raises(ValueError, match="at most|50,000"):
        token_corpus("train", 50_001)
    with pytest.raises(ValueError, match="block_size"):
        token_corpus("train", 10, block_size=1)
    with pytest.raises(ValueError, match="holds images"):
        load_dataset("embedded", "train", n=4, block_size=8)


def _write(folder, name, tokens):
    arr = np.memmap(folder / name, dtype=np.uint16, mode="w+", shape=(len(tokens),))
    arr[:] = tokens
    arr.flush()


def test_nanogpt_files_give_windows_of_the_file(tmp_path):
    stream = np.arange(1000) % 50257
    _write(tmp_path, "train.bin", stream)
    _write(tmp_path, "val.bin", 7 * np.arange(201) % 300)
    data = token_files(tmp_path, "train", 20, seed=0, block_size=8)
    x, y = data.tensors
    assert x.shape == (20, 8)
    for row, target in zip(x, y, strict=True):
        start = int(row[0])
        assert start % 8 == 0                                          # windows start at k·T
        assert row.tolist() == list(range(start, start + 8))
        assert target.tolist() == list(range(start + 1, start + 9))
    assert len(set(x[:, 0].tolist())) == 20                            # distinct windows
    more = token_files(tmp_path, "train", 30, seed=0, block_size=8)
    torch.testing.assert_close(more.tensors[0][:20], x)               # nested in n
    inputs, targets = evaluation_tensors("nanogpt", "test", samples=5, root=tmp_path,
                                         block_size=8)
    assert inputs.dtype == torch.int64 and inputs.shape == (5, 8)
    assert token_files(tmp_path, "test", block_size=8).tensors[0].shape == (25, 8)


def test_nanogpt_files_refuse_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.bin"):
        token_files(tmp_path, "train")
    (tmp_path / "train.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match="odd number of bytes"):
        token_files(tmp_path, "train")
    _write(tmp_path, "train.bin", np.arange(5))
    with pytest.raises(ValueError, match="too few"):
        token_files(tmp_path, "train", block_size=8)
    _write(tmp_path, "train.bin", np.arange(100))
    with pytest.raises(ValueError, match="--samples 12"):
        token_files(tmp_path, "train", 13, block_size=8)
    with pytest.raises(ValueError, match="needs root"):
        load_dataset("nanogpt", "train")


@pytest.mark.slow
def test_trained_gpt_mini_goes_well_below_the_unigram_entropy():
    """2,000 sequences of 32 tokens, 2 epochs of AdamW (about 10 s on one core): the test loss
    falls from ln 64 = 4.16 to below 2/3 of the corpus's unigram entropy (3.93 nats)."""
    from models import create_model
    from models.train import train_model

    train, test = (load_dataset("tokens", s, n=n) for s, n in (("train", 2000), ("test", 300)))
    net = create_model("gpt-mini", seed=0)
    history = train_model(net, train, test, epochs=2, lr=3e-3, weight_decay=0.01,
                          optimizer="adamw", batch_size=32, progress=False)
    assert history["test_loss"][-1] < 2 / 3 * corpus_entropies(0)["unigram"]
    assert history["test_acc"][-1] > 40                            # token accuracy, percent
