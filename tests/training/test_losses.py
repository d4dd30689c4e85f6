import math

import pytest
import torch

from neurosim.training import ce_count, ce_mean, get_loss, mse_count, predict


def test_ce_count_is_cross_entropy_of_counts_by_hand() -> None:
    out = torch.tensor([[[1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]])  # T=2, B=1: counts 2, 0, 1
    target = torch.tensor([0])
    want = -math.log(math.exp(2) / (math.exp(2) + math.exp(0) + math.exp(1)))
    assert ce_count(out, target).item() == pytest.approx(want, rel=1e-6)


def test_ce_mean_uses_the_time_average() -> None:
    out = torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])  # mean logits 1, 0
    want = -math.log(math.exp(1) / (math.exp(1) + 1))
    assert ce_mean(out, torch.tensor([0])).item() == pytest.approx(want, rel=1e-6)


def test_mse_count_targets_by_hand() -> None:
    out = torch.zeros(4, 1, 3)
    out[:, 0, 1] = 1.0  # class 1 fires 4 times
    loss = mse_count(out, torch.tensor([1]), correct_rate=0.75, incorrect_rate=0.25)
    # counts (0, 4, 0) vs targets (1, 3, 1): errors 1, 1, 1
    assert loss.item() == pytest.approx(1.0)


def test_predict_and_errors() -> None:
    out = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert predict(out).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"output \[T, B, C\]"):
        ce_count(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"target \[B\] = \[2\]"):
        ce_count(torch.zeros(1, 2, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")
