"""The fused output layer and loss: torch's cross-entropy of W_o t + b, value and gradients, in chunks."""

import pytest
import torch
import torch.nn.functional as F

from nmt.core.vocab import PAD
from nmt.model.output_loss import output_loss

TOKENS, DIM, VOCAB = 23, 16, 40


def inputs(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(TOKENS, DIM, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(VOCAB, DIM, generator=g, dtype=dtype, requires_grad=True)
    bias = torch.randn(VOCAB, generator=g, dtype=dtype, requires_grad=True)
    targets = torch.randint(1, VOCAB, (TOKENS,), generator=g)
    targets[[4, 17, 22]] = PAD
    return x, weight, bias, targets


def reference(x, weight, bias, targets, smoothing):
    logits = F.linear(x, weight, bias)
    return F.cross_entropy(logits, targets, ignore_index=PAD, reduction="sum", label_smoothing=smoothing)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("rows", [1, 5, TOKENS, 100], ids=lambda r: f"{r}rows")
def test_loss_and_gradients_are_torchs_cross_entropy_in_any_chunking(
    smoothing, rows, with_and_without_kernels
):
    """Every chunk size (a row at a time, uneven chunks, one chunk) gives torch's value and gradients,
    PAD targets contribute nothing, and the incoming gradient scales all three: with the CPU kernel
    and with torch's ops."""
    x, weight, bias, targets = inputs()
    want = reference(x, weight, bias, targets, smoothing)
    want_grads = torch.autograd.grad(3.0 * want, (x, weight, bias))
    got = output_loss(x, weight, bias, targets, smoothing, chunk_elements=rows * VOCAB)
    got_grads = torch.autograd.grad(3.0 * got, (x, weight, bias))
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)
    assert got_grads[0][[4, 17, 22]].abs().max() == 0  # PAD rows get no gradient


def test_gradcheck_and_no_gradients_when_none_are_needed(with_and_without_kernels):
    x, weight, bias, targets = inputs()
    assert torch.autograd.gradcheck(lambda *a: output_loss(*a, targets, 0.1, 7 * VOCAB), (x, weight, bias))
    with torch.no_grad():
        loss = output_loss(x, weight, bias, targets)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, reference(x, weight, bias, targets, 0.0).detach())


def test_bf16_autocast_computes_the_products_in_bf16_and_the_loss_in_fp32():
    """Under autocast the logits are bf16 products (as nn.Linear's would be) and the loss and its
    gradients come back in the inputs' dtypes, close to the fp32 reference."""
    x, weight, bias, targets = inputs(torch.float32)
    with torch.autocast("cpu", torch.bfloat16):
        got = output_loss(x, weight, bias, targets, 0.1, chunk_elements=5 * VOCAB)
        want = reference(x, weight, bias, targets, 0.1)  # bf16 logits, fp32 loss
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want.float(), rtol=1e-3, atol=0.0)
    grads = torch.autograd.grad(got, (x, weight, bias))
    assert [g.dtype for g in grads] == [torch.float32] * 3
    exact = torch.autograd.grad(reference(x, weight, bias, targets, 0.1), (x, weight, bias))
    for g, e in zip(grads, exact, strict=True):
        assert (g - e).abs().max() < 0.05 * e.abs().max()


@pytest.mark.parametrize("rows", [1, 5, 100], ids=lambda r: f"{r}rows")
def test_bf16_products_pad_the_tokens_and_keep_the_loss_and_gradients_fp32(rows):
    """dtype=bf16 (a CPU run's bf16): the tokens are padded to a multiple of bf16_matmul.ROWS and the
    chunks to whole multiples, the padding adds nothing, and all comes back fp32 for the 23 real tokens."""
    x, weight, bias, targets = inputs(torch.float32)
    want = reference(x, weight, bias, targets, 0.1)
    want_grads = torch.autograd.grad(want, (x, weight, bias))
    got = output_loss(x, weight, bias, targets, 0.1, chunk_elements=rows * VOCAB, dtype=torch.bfloat16)
    got_grads = torch.autograd.grad(got, (x, weight, bias))
    assert got.dtype == torch.float32 and [g.dtype for g in got_grads] == [torch.float32] * 3
    assert got_grads[0].shape == x.shape
    torch.testing.assert_close(got, want, rtol=1e-2, atol=0)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=5e-2, atol=5e-2)
    assert got_grads[0][[4, 17, 22]].abs().max() == 0
