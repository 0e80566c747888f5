"""Bahdanau attention's energies on a CPU: a kernel of nmt.model.native, or torch's ops.

    h = tanh(keys + p)           [B,S,A]    p = W_a s_{i-1} + b_a  [B,A]
    scores = h v                 [B,S]      -inf at padding

torch runs the forward as three passes over the [B,S,A] block and the backward as five; the block
(4 MB at B=90, S=22, A=512) does not stay in cache between them, so each step is bound by memory
traffic (measured on a Xeon: 0.43 ms forward, 0.74 ms backward). csrc/attention_energies.cpp makes
one pass each way and skips padding (0.32 ms and 0.24 ms); decoding reads the scores alone, and the
[B,S,A] block is never written.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nmt.model.native import for_cpu


def forward(keys: Tensor, p: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """h = tanh(keys [B,S,A] + p [B,A]) and scores h v [B,S] (-inf where mask [B,S] is False)."""
    native = for_cpu(keys)
    if native is not None:
        scores, hid = native.energies_forward(keys, p, v, mask, True)
        return hid, scores
    return forward_torch(keys, p, v, mask)


def scores(keys: Tensor, p: Tensor, v: Tensor, mask: Tensor) -> Tensor | None:
    """forward's scores alone [B,S], without writing h (decoding), where the kernel applies; else None."""
    native = for_cpu(keys)
    return None if native is None else native.energies_forward(keys, p, v, mask, False)[0]


def backward(
    g_scores: Tensor, hid: Tensor, v: Tensor, mask: Tensor, g_keys: Tensor, g_p: Tensor, g_v: Tensor
):
    """From dL/dscores [B,S]: dL/dkeys added into g_keys [B,S,A], dL/dv into g_v [A]; dL/dp into g_p [B,A]."""
    native = for_cpu(hid)
    if native is not None:
        native.energies_backward(g_scores.contiguous(), hid, v, mask, g_keys, g_p, g_v)
    else:
        backward_torch(g_scores, hid, v, mask, g_keys, g_p, g_v)


def forward_torch(keys: Tensor, p: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """forward with torch's ops (h is tanh(keys + p) at padding too)."""
    hid = torch.add(keys, p.unsqueeze(1)).tanh_()  # [B,S,A]
    return hid, (hid @ v).masked_fill_(~mask, float("-inf"))


def backward_torch(g_scores, hid, v, mask, g_keys, g_p, g_v) -> None:
    """backward with torch's ops (g_scores must be 0 at padding, as softmax's gradient is)."""
    g_v.addmv_(hid.flatten(0, 1).t(), g_scores.flatten())
    g_hid = torch.ops.aten.tanh_backward(g_scores.unsqueeze(2) * v, hid)  # [B,S,A]
    g_keys += g_hid
    torch.sum(g_hid, dim=1, out=g_p)
