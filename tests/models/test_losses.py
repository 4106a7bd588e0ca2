from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.losses import (
    annealed_loss,
    ddi_loss,
    margin_targets,
    prediction_loss,
    use_ddi_loss,
    visit_ddi_rate,
)

DDI = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float32)


def test_margin_targets_list_positives_then_minus_one() -> None:
    t = torch.tensor([[0.0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
    assert margin_targets(t).tolist() == [[1, 3, -1, -1], [-1, -1, -1, -1], [0, 1, 2, 3]]


def test_prediction_loss_is_the_official_single_visit_loss() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.5, -2.0]])
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 0]])
    got = prediction_loss(logits, targets)
    for i, positives in enumerate(([0, 2], [1])):
        row, target = logits[i : i + 1], targets[i : i + 1]
        margin_target = torch.full((1, 4), -1, dtype=torch.long)
        margin_target[0, : len(positives)] = torch.tensor(positives)
        expected = 0.9 * F.binary_cross_entropy_with_logits(row, target) + 0.01 * (
            F.multilabel_margin_loss(torch.sigmoid(row), margin_target)
        )
        torch.testing.assert_close(got[i], expected)


def test_ddi_loss_is_the_mean_of_the_outer_product_on_the_ddi_graph() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.5, -2.0]])
    got = ddi_loss(logits, DDI)
    for i in range(2):
        p = torch.sigmoid(logits[i : i + 1])
        torch.testing.assert_close(got[i], (p.t() * p).mul(DDI).mean())


def test_visit_ddi_rate_counts_unordered_pairs() -> None:
    pred = torch.tensor(
        [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=torch.bool
    )
    # {0,1,2}: 1 of 3 pairs; single med: 0; all four: 2 of 6; none: 0; {0,2}: 0 of 1.
    expected = torch.tensor([1 / 3, 0.0, 2 / 6, 0.0, 0.0])
    torch.testing.assert_close(visit_ddi_rate(pred, DDI), expected)
    one_way = torch.triu(DDI)
    torch.testing.assert_close(visit_ddi_rate(pred, one_way), expected)


def test_use_ddi_loss_follows_the_annealing_rule() -> None:
    rate = torch.tensor([0.04, 0.05, 0.3, 0.3])
    u = torch.tensor([0.0, 0.0, 0.5, 0.2])
    accept = math.exp((0.05 - 0.3) / 0.2)  # about 0.29
    chosen = use_ddi_loss(rate, u, target_ddi=0.05, temperature=0.2)
    assert chosen.tolist() == [False, False, 0.5 < accept, 0.2 < accept]


def test_annealed_loss_uses_the_ddi_loss_alone_when_chosen() -> None:
    logits = torch.tensor([[3.0, 3.0, -3, -3], [3.0, -3, 3, -3]], requires_grad=True)
    targets = torch.tensor([[1.0, 1, 0, 0], [1, 0, 1, 0]])
    loss, chosen = annealed_loss(
        logits, targets, DDI, torch.zeros(2), target_ddi=0.05, temperature=0.5
    )
    assert chosen.tolist() == [True, False]  # visit 0 predicts the interacting pair {0, 1}
    torch.testing.assert_close(loss[0], ddi_loss(logits, DDI)[0])
    torch.testing.assert_close(loss[1], prediction_loss(logits, targets)[1])
    loss.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
