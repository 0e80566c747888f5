"""The CPU dropout: torch's inverted dropout, rate and scaling, from the seeded generator."""

import pytest
import torch

from nmt.model.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_drops_at_the_rate_and_scales_the_rest(p):
    torch.manual_seed(0)
    x = torch.full((1000, 1000), 3.0)
    y = dropout(x, p)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.002  # 1e6 draws: 4 standard deviations is < 0.002
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 3.0 / (1 - p)))
    pairs = kept.view(-1, 4).float()  # the four numbers of one 64-bit draw are independent
    assert abs((pairs[:, 0] * pairs[:, 3]).mean().item() - (1 - p) ** 2) < 0.004


def test_seeded_reproducible_and_gradient_is_the_mask():
    x = torch.randn(7, 5, 3, requires_grad=True)
    torch.manual_seed(4)
    y = dropout(x, 0.3)
    torch.manual_seed(4)
    assert torch.equal(dropout(x, 0.3), y)
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, (y != 0).float() / 0.7)


def test_evaluation_and_zero_rate_leave_the_input():
    x = torch.randn(4, 6)
    module = Dropout(0.4).eval()
    assert module(x) is x
    assert torch.equal(dropout(x, 0.0), x)
    assert not torch.equal(module.train()(x), x)
