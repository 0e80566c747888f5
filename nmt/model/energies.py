"""Bahdanau attention's energies on a CPU: a kernel of nmt.model.native, or torch's ops.

    h = tanh(keys + p)           [B,S,A]    p = W_a s_{i-1} + b_a  [B,A]
    scores = h v                 [B,S]      -inf at padding

torch runs the forward as three passes over the [B,S,A] block and the backward as five; the block
(4 MB at B=90, S=22, A=512) does not stay in cache between them, so each step is bound by memory
traffic (measured on a Xeon: 0.43 ms forward, 0.74 ms backward). csrc/attention_energies.cpp makes
one pass each way and skips padding; h is never stored: the backward computes it again from keys and
p (a tanh, instead of keeping [T,B,S,A] for the backward: 100 MB a batch of `base`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nmt.model.native import for_cpu


def scores(
    keys: Tensor,
    p: Tensor,
    v: Tensor,
    mask: Tensor,
    scratch: Callable[[], Tensor] | None = None,
    beams: int = 1,
) -> Tensor:
    """v tanh(keys [B,S,A] + p [N,A]): [N,S], -inf where mask [B,S] is False; row r reads keys[r // beams].

    Under autograd (training, beams 1) keys, p and v get their gradients: the kernel's backward, or
    torch's. scratch: gives an [N,S,A] buffer for torch's ops to reuse in decoding, where the kernel
    cannot run.
    """
    native = for_cpu(keys)
    if native is None:
        out = scratch() if scratch is not None and not torch.is_grad_enabled() else None
        return scores_torch(keys, p, v, mask, out, beams)
    if torch.is_grad_enabled() and beams == 1:
        return _Scores.apply(keys, p, v, mask)
    return native.energies_forward(keys, p, v, mask, beams)


class _Scores(torch.autograd.Function):
    """scores through the kernel, differentiable: the backward computes tanh(keys + p) again."""

    @staticmethod
    def forward(ctx, keys, p, v, mask):
        ctx.save_for_backward(keys, p, v, mask)
        return for_cpu(keys).energies_forward(keys, p, v, mask, 1)

    @staticmethod
    def backward(ctx, g_scores):
        keys, p, v, mask = ctx.saved_tensors
        g_keys, g_p, g_v = torch.zeros_like(keys), torch.empty_like(p), torch.zeros_like(v)
        g_scores = g_scores.masked_fill(~mask, 0.0).contiguous()
        for_cpu(keys).energies_backward(g_scores, keys, p, v, mask, g_keys, g_p, g_v)  # adds into g_keys, g_v
        return g_keys, g_p, g_v, None


def scores_torch(
    keys: Tensor, p: Tensor, v: Tensor, mask: Tensor, out: Tensor | None = None, beams: int = 1
) -> Tensor:
    """scores with torch's ops (h written to out [N,S,A], if given)."""
    batch, length, size = keys.shape
    grouped = p.reshape(batch, beams, 1, size)  # [B,beams,1,A]
    hid = torch.add(
        keys.unsqueeze(1), grouped, out=None if out is None else out.view(batch, beams, length, size)
    )
    scores = hid.tanh_() @ v  # [B,beams,S]
    return scores.masked_fill_(~mask.unsqueeze(1), float("-inf")).flatten(0, 1)  # [N,S]


def backward_torch(g_scores, keys, p, v, mask, g_keys, g_p, g_v) -> None:
    """backward with torch's ops (g_scores must be 0 at padding, as softmax's gradient is)."""
    hid = torch.add(keys, p.unsqueeze(1)).tanh_()  # [B,S,A]
    g_v.addmv_(hid.flatten(0, 1).t(), g_scores.flatten())
    g_hid = torch.ops.aten.tanh_backward(g_scores.unsqueeze(2) * v, hid)  # [B,S,A]
    g_keys += g_hid
    torch.sum(g_hid, dim=1, out=g_p)
