"""Deferred weight gradients: the same gradients as autograd's per-step ones, in one product."""

import torch
import torch.nn.functional as F

from nmt.model.loop_linear import LoopLinears


def recurrence(linear, x, w_in, b_in, w_rec, steps=5):
    """h_i = tanh(W_in x_i + b + W_rec h_{i-1}): each weight used at every step, h feeding back."""
    h = torch.zeros(x.size(1), w_rec.size(0), dtype=x.dtype)
    outs = []
    for i in range(steps):
        h = torch.tanh(linear(x[i], w_in, b_in) + linear(h, w_rec))
        outs.append(h)
    return torch.stack(outs)


def leaves(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return [
        torch.randn(5, 3, 4, generator=g, dtype=dtype, requires_grad=True),  # x [T,B,in]
        torch.randn(6, 4, generator=g, dtype=dtype, requires_grad=True),  # W_in
        torch.randn(6, generator=g, dtype=dtype, requires_grad=True),  # b
        torch.randn(6, 6, generator=g, dtype=dtype, requires_grad=True) / 3,  # W_rec
    ]


def test_gradients_equal_autograds_and_the_second_pass_starts_clean():
    x, w_in, b_in, w_rec = leaves()
    w_rec = w_rec.detach().requires_grad_()
    weights = torch.randn(5, 3, 6, dtype=torch.float64)
    want = torch.autograd.grad(
        (recurrence(F.linear, x, w_in, b_in, w_rec) * weights).sum(), (x, w_in, b_in, w_rec)
    )
    for _ in range(2):  # a fresh LoopLinears per pass, as the model makes one per teacher-forced pass
        out = recurrence(LoopLinears(), x, w_in, b_in, w_rec)
        got = torch.autograd.grad((out * weights).sum(), (x, w_in, b_in, w_rec))
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w)
    assert torch.autograd.gradcheck(lambda *a: recurrence(LoopLinears(), *a), (x, w_in, b_in, w_rec))


def test_plain_linear_without_autograd_and_bf16_autocast_like_nn_linear():
    x, w_in, b_in, w_rec = leaves(torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(
            recurrence(LoopLinears(), x, w_in, b_in, w_rec), recurrence(F.linear, x, w_in, b_in, w_rec)
        )
    with torch.autocast("cpu", torch.bfloat16):
        out = recurrence(LoopLinears(), x, w_in, b_in, w_rec)
        ref = recurrence(F.linear, x, w_in, b_in, w_rec)
    assert out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out, ref)
    got = torch.autograd.grad(out.float().sum(), (x, w_in, b_in))
    want = torch.autograd.grad(ref.float().sum(), (x, w_in, b_in))
    assert [g.dtype for g in got] == [torch.float32] * 3
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-2)


def test_bf16_products_give_fp32_results_and_gradients_close_to_fp32s():
    """LoopLinears(bf16): the same recurrence with bf16-rounded operands, outputs and every gradient fp32,
    within bf16's rounding of the fp32 ones; the deferred weight gradient still sums over all steps."""
    x, w_in, b_in, w_rec = leaves(torch.float32)
    w_rec = w_rec.detach().requires_grad_()
    out = recurrence(LoopLinears(torch.bfloat16), x, w_in, b_in, w_rec)
    ref = recurrence(F.linear, x, w_in, b_in, w_rec)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=3e-2, atol=3e-2)
    assert (out - ref).abs().max() > 0  # the products were bf16
    got = torch.autograd.grad(out.sum(), (x, w_in, b_in, w_rec))
    want = torch.autograd.grad(ref.sum(), (x, w_in, b_in, w_rec))
    assert [g.dtype for g in got] == [torch.float32] * 4
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=5e-2, atol=5e-2)
