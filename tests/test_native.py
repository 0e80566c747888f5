"""The CPU kernels (nmt/model/csrc): built here, equal to torch's ops; torch's ops where they cannot build."""

import logging

import pytest
import torch

from nmt.core.vocab import BOS, PAD
from nmt.model import energies, native, search
from nmt.model.search import _best_next


def energies_case(dtype, batch=6, length=9, size=40):
    """keys [B,S,A], p [B,A] as a column slice (rows not contiguous), v [A] and a mask with padding
    at the ends and one hole."""
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(batch, length, size, generator=g, dtype=dtype)
    p = torch.randn(batch, size + 13, generator=g, dtype=dtype)[:, :size]
    v = torch.randn(size, generator=g, dtype=dtype)
    mask = torch.arange(length) < torch.tensor([9, 4, 1, 7, 9, 2])[:, None]
    mask[4, 3] = False
    return keys, p, v, mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_energies_scores_are_torchs(kernels, dtype):
    keys, p, v, mask = energies_case(dtype)
    scores = energies.scores(keys, p, v, mask)
    want = energies.scores_torch(keys, p, v, mask)
    assert torch.equal(torch.isinf(scores), ~mask) and bool((scores[~mask] < 0).all())  # -inf at padding
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(scores[mask], want[mask], **tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_energies_backward_accumulates_torchs_gradients(kernels, dtype):
    """The kernel computes h again from keys and p: the gradients of keys, p and v that autograd gives."""
    keys, p, v, mask = energies_case(dtype)
    g_scores = torch.randn(mask.shape, generator=torch.Generator().manual_seed(1), dtype=dtype) * mask
    start_keys, start_v = torch.randn_like(keys), torch.randn_like(v)  # backward adds into these
    got = [start_keys.clone(), torch.full((6, 53), 7.0, dtype=dtype)[:, :40], start_v.clone()]
    kernels.energies_backward(g_scores, keys, p, v, mask, *got)
    leaves = [keys.clone().requires_grad_(), p.clone().requires_grad_(), v.clone().requires_grad_()]
    scores = energies.scores_torch(*leaves, mask)
    want = torch.autograd.grad(scores[mask] @ g_scores[mask], leaves)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-4}
    torch.testing.assert_close(got[0] - start_keys, want[0], **tol)
    torch.testing.assert_close(got[1], want[1], **tol)
    torch.testing.assert_close(got[2] - start_v, want[2], **tol)
    fallback = [start_keys.clone(), torch.zeros(6, 40, dtype=dtype), start_v.clone()]
    energies.backward_torch(g_scores, keys, p, v, mask, *fallback)  # torch's ops, where the kernel cannot run
    for g, f in zip(got, fallback, strict=True):
        torch.testing.assert_close(g, f, **tol)


def test_energies_tanh_is_within_five_ulp_of_tanh_and_saturates(kernels):
    """fp32 energies take tanh from a rational approximation in registers: with v a unit vector, a score is
    tanh of one key, checked against float64 tanh from 0 to past the range where it rounds to +-1."""
    x = torch.cat([torch.linspace(-12.0, 12.0, 48_001), torch.logspace(-30, 0, 2_000)])
    keys = torch.zeros(1, x.numel(), 19)
    keys[0, :, 5] = x
    v = torch.zeros(19)
    v[5] = 1.0
    real = torch.ones(1, x.numel(), dtype=torch.bool)
    scores = kernels.energies_forward(keys, torch.zeros(1, 19), v, real, 1)[0]
    want = torch.tanh(x.double())
    ulp = torch.finfo(torch.float32).eps * want.abs().clamp(min=torch.finfo(torch.float32).tiny)
    assert float(((scores.double() - want).abs() / ulp).max()) <= 5.0
    assert torch.equal(scores[x.abs() >= 9], torch.sign(x[x.abs() >= 9]))  # saturated, as float32 tanh
    assert torch.equal(scores[x == 0], x[x == 0])


@pytest.mark.parametrize("n", [1, 10])
def test_best_next_on_a_full_vocabulary_is_torchs(kernels, n, monkeypatch):
    """3,896 columns (more than a vector's width; not a multiple of it), some rows forced to end."""
    logits = torch.randn(50, 3896, generator=torch.Generator().manual_seed(2)) * 3
    force = torch.arange(50) % 7 == 0
    ids = torch.arange(3896) + 1000
    best, tokens = _best_next(logits, force, n, ids)
    monkeypatch.setattr(search, "for_cpu", lambda x: None)
    want_best, want_tokens = _best_next(logits.clone(), force, n, ids)
    finite = torch.isfinite(want_best)
    assert torch.equal(torch.isfinite(best), finite)
    assert torch.equal(tokens[finite], want_tokens[finite])
    torch.testing.assert_close(best[finite], want_best[finite], rtol=0, atol=2e-5)


def test_where_the_kernels_cannot_be_built_a_warning_says_why_and_torchs_ops_run(
    kernels, tmp_path, monkeypatch, caplog
):
    """A machine without a C++ compiler (CXX names none): one warning and None; then attention's energies
    and decoding's next-token choice run torch's ops, with the same results."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with caplog.at_level(logging.WARNING, logger="nmt.model.native"):
        assert native.build() is None
    warnings = [r.getMessage() for r in caplog.records if r.name == native.__name__ and r.levelno >= 30]
    assert warnings == [
        f"the CPU kernels could not be built (/bin/sh: 1: {tmp_path}/no-such-compiler: not found); "
        "torch's ops run instead"
    ]
    monkeypatch.setattr(native, "kernels", lambda: None)
    keys, p, v, mask = energies_case(torch.float32)
    scratch = torch.empty_like(keys)
    with torch.no_grad():  # decoding's buffer, written by torch's ops
        scores = energies.scores(keys, p, v, mask, lambda: scratch)
    assert torch.equal(scores, energies.scores_torch(keys, p, v, mask))
    assert torch.equal(scratch, torch.tanh(keys + p.unsqueeze(1)))
    logits = torch.randn(4, 40, generator=torch.Generator().manual_seed(3))
    best, tokens = _best_next(logits.clone(), torch.zeros(4, dtype=torch.bool), 3, torch.arange(40))
    allowed = torch.log_softmax(logits, -1).index_fill(1, torch.tensor([PAD, BOS]), float("-inf"))
    torch.testing.assert_close(best, allowed.topk(3).values)
    assert torch.equal(tokens, allowed.topk(3).indices)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_energies_scores_of_beams_read_their_sentences_keys(kernels, dtype):
    """Beam search's rows: row r of p against keys[r // beams], as if the keys were repeated per beam."""
    keys, _, v, mask = energies_case(dtype)
    p = torch.randn(6 * 3, 40, generator=torch.Generator().manual_seed(4), dtype=dtype)
    repeated = keys.repeat_interleave(3, dim=0), mask.repeat_interleave(3, dim=0)
    want = energies.scores_torch(repeated[0], p, v, repeated[1])
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    for scores in (
        energies.scores(keys, p, v, mask, beams=3),
        energies.scores_torch(keys, p, v, mask, beams=3),
    ):
        assert torch.equal(torch.isinf(scores), ~repeated[1])
        torch.testing.assert_close(scores[repeated[1]], want[repeated[1]], **tol)


def test_energies_scores_under_autograd_pass_gradcheck(kernels):
    """Training's decoders that keep the step-by-step loop (LSTM, more layers) differentiate the scores
    through the kernel's backward: gradcheck in float64, padding and a hole in the mask included."""
    keys, p, v, mask = energies_case(torch.float64, batch=3, length=4, size=5)
    mask = torch.tensor([[True, True, True, True], [True, False, True, False], [True, False, False, False]])
    leaves = [t.clone().requires_grad_() for t in (keys, p.contiguous(), v)]
    scores = energies.scores(*leaves, mask)
    assert scores.grad_fn is not None and "Scores" in type(scores.grad_fn).__name__  # the kernel's backward

    def finite(*args):  # -inf at padding has no gradient to check
        return energies.scores(*args, mask).masked_fill(~mask, 0.0)

    assert torch.autograd.gradcheck(finite, leaves)
