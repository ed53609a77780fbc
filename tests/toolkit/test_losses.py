"""The built-in per-sample losses and token accuracy, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from toolkit.losses import LOSSES, accuracy, builtin_loss, cross_entropy, mse, token_cross_entropy


def test_token_cross_entropy_is_the_mean_over_each_sequence():
    # two classes, logits (0, 0) give ln 2; logits (ln 3, 0) give ln(4/3) for class 0
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0]],
                           [[math.log(3), 0.0], [math.log(3), 0.0]]], dtype=torch.float64)
    tokens = torch.tensor([[0, 0], [0, 1]])
    expected = torch.tensor([(math.log(2) + math.log(4 / 3)) / 2,
                             (math.log(4 / 3) + math.log(4)) / 2], dtype=torch.float64)
    torch.testing.assert_close(token_cross_entropy(logits, tokens), expected)
    torch.testing.assert_close(cross_entropy(logits, tokens), expected)  # same on sequences
    with pytest.raises(ValueError, match="token-cross-entropy takes"):
        token_cross_entropy(logits[:, 0], tokens[:, 0])


def test_cross_entropy_of_classes_and_mse_one_hot():
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    torch.testing.assert_close(cross_entropy(logits, labels),
                               torch.tensor([math.log(2), math.log(1 + math.exp(-2))],
                                            dtype=torch.float64))
    # one-hot: sample 0 (0-0)² + (0-1)² over 2; sample 1 (2-1)² + 0 over 2
    torch.testing.assert_close(mse(logits, labels), torch.tensor([0.5, 0.5],
                                                                 dtype=torch.float64))
    torch.testing.assert_close(mse(torch.ones(2, 3), torch.zeros(2, 3)), torch.ones(2))
    with pytest.raises(ValueError, match="same shape"):
        mse(torch.ones(2, 3), torch.zeros(2, 4))


def test_token_accuracy_is_each_sequences_fraction():
    logits = torch.zeros(2, 4, 3)
    logits[0, :, 1] = 1          # predicts 1 everywhere
    logits[1, :, 2] = 1          # predicts 2 everywhere
    tokens = torch.tensor([[1, 1, 0, 0], [2, 2, 2, 0]])
    torch.testing.assert_close(accuracy(logits, tokens),
                               torch.tensor([0.5, 0.75], dtype=torch.float64))
    assert accuracy(torch.zeros(2, 3), torch.zeros(2, 3)) is None      # regression: none


def test_names():
    assert list(LOSSES) == ["cross-entropy", "token-cross-entropy", "mse"]
    assert builtin_loss("mse") is mse and mse.loss_name == "mse"
    with pytest.raises(ValueError, match="built in: cross-entropy"):
        builtin_loss("hinge")
