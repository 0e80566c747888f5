"""Guided alignment (Marian's `--guided-alignment`, cost ce): attention pulled toward statistical links.

Targets: for a batch of pairs, a [B,T,S] matrix in the model's attention layout (row i is the
attention used to predict decoder output i, column j source position j; the EOS row, the
source EOS column and padding stay 0). Target piece q of word t links to every piece of each
source word linked to t (nmt.align.guidance); each linked row spreads weight 1 evenly over its
links, so each target piece's links share weight 1/links. Rows without links carry no loss.

Loss: per linked row, the cross-entropy of the attention against the row's target, less the
target's own entropy (a constant, so the gradient is Marian's ce), which makes it 0 exactly
when the attention equals the target; summed over rows like the token loss.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nmt.align.guidance import GuideLinks

TINY = 1e-9


def guide_targets(guide: GuideLinks, pair_ids: np.ndarray, tgt_len: int, src_len: int) -> Tensor:
    """Target attention [B,T,S] float32 of the pairs `pair_ids` [B] (rows sum to 1 or are 0)."""
    out = np.zeros((len(pair_ids), tgt_len, src_len), dtype=np.float32)  # [B,T,S]
    for b, row in enumerate(guide.rows(np.asarray(pair_ids))):
        if row >= 0:
            for tgt, src in guide.piece_links(int(row)):
                out[b, tgt, src] = 1.0
    total = out.sum(axis=2, keepdims=True)  # [B,T,1]
    return torch.from_numpy(out / np.maximum(total, 1.0))


def guided_alignment_loss(attn: Tensor, target: Tensor) -> Tensor:
    """Summed cross-entropy (less the targets' entropy) of attention [B,T,S] against targets [B,T,S]."""
    target = target.to(attn.device)
    linked = target > 0  # [B,T,S]
    log_ratio = torch.log(target.clamp_min(TINY)) - torch.log(attn.float().clamp_min(TINY))  # [B,T,S]
    return (target * log_ratio).masked_fill(~linked, 0.0).sum()
