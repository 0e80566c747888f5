"""The output layer and its loss in one pass: p(y_i) = softmax(W_o t_i + b) and the summed cross-entropy.

The [tokens, vocabulary] logits, their log-softmax and the two gradients of the same shape are the
largest tensors of a training step: 42 MB each for a 1,300-token batch over 8k pieces. Allocating
them anew every step costs page faults (blocks this size are mapped and unmapped by the C
allocator each time), and the passes over them cost memory bandwidth. Here the logits are made a
few hundred rows at a time in one cache-sized buffer, and each chunk's gradient
(softmax - smoothed one-hot) is turned at once into the gradients of t, W_o and b. The backward
pass only scales those by the loss's incoming gradient: the loss is a scalar. On a CPU a chunk's
softmax, loss and gradient are one kernel (csrc/softmax_loss.cpp: three passes a row, in L1), where
torch's ops make about ten passes over the chunk.

Label smoothing as torch's cross_entropy defines it: with weight e, a token's loss is
(1 - e) (-log p_y) + e mean_v(-log p_v) = lse - (1 - e) z_y - (e / V) sum_v z_v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.core.vocab import PAD
from nmt.model.bf16_matmul import ROWS, pad_rows
from nmt.model.native import for_cpu

CHUNK_ELEMENTS = 1 << 21  # logits computed at once: 8 MB in fp32, under the allocator's mapping threshold


def output_loss(
    readouts: Tensor,
    weight: Tensor,
    bias: Tensor,
    targets: Tensor,
    label_smoothing: float = 0.0,
    chunk_elements: int = CHUNK_ELEMENTS,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Summed cross-entropy of readouts [N,M] @ weight[V,M].T + bias [V] against targets [N], PAD ignored.

    dtype: the products' operand type (bf16: nmt.model.bf16_matmul); None: autocast's, or the inputs'.
    """
    return _OutputLoss.apply(readouts, weight, bias, targets, label_smoothing, chunk_elements, dtype)


class _OutputLoss(torch.autograd.Function):
    """Loss and gradients in the forward pass, chunk by chunk; backward scales the gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, targets, smoothing, chunk_elements, compute):
        device = x.device.type
        if compute is None:
            compute = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        acc = torch.promote_types(compute, torch.float32)  # softmax and sums in at least fp32
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        tokens, vocab = x.size(0), weight.size(0)
        xc, wc, bc = x.to(compute), weight.to(compute), bias.to(compute)
        rows = max(1, chunk_elements // vocab)
        if compute != acc:  # chunks of recurring shapes, for oneDNN's per-shape kernels (bf16_matmul)
            rows = max(ROWS, rows // ROWS * ROWS)
            xc = pad_rows(xc)  # [N',M]
            targets = F.pad(targets, (0, len(xc) - tokens), value=PAD)  # [N'], the padding ignored
        buf = torch.empty(min(rows, len(xc)), vocab, dtype=acc, device=x.device)  # [n,V] reused
        low = torch.empty_like(buf, dtype=compute) if compute != acc else None  # [n,V] reused
        grad_x = torch.empty(xc.shape, dtype=x.dtype, device=x.device) if need_x else None  # [N,M]
        grad_w = torch.zeros(weight.shape, dtype=acc, device=x.device) if need_w else None  # [V,M]
        grad_b = torch.zeros(vocab, dtype=acc, device=x.device) if need_b else None  # [V]
        loss = torch.zeros((), dtype=acc, device=x.device)
        native, empty = for_cpu(buf), buf.new_empty(0)
        softmax_loss = _softmax_loss if native is None else native.softmax_loss
        for i in range(0, len(xc), rows):
            x_i = xc[i : i + rows]  # [n,M]
            z = buf[: x_i.size(0)]  # [n,V]
            if low is None:
                torch.addmm(bc, x_i, wc.t(), out=z)
            else:
                z.copy_(torch.addmm(bc, x_i, wc.t(), out=low[: x_i.size(0)]))
            loss += softmax_loss(z, targets[i : i + rows], smoothing, PAD, grad_b if need_b else empty)
            if not (need_x or need_w or need_b):
                continue
            g = z if low is None else low[: z.size(0)].copy_(z)
            if need_x:
                grad_x[i : i + rows] = g @ wc  # [n,M]
            if need_w:
                if low is None:
                    grad_w.addmm_(g.t(), x_i)
                else:
                    grad_w += g.t() @ x_i  # [V,M]
        ctx.grads = (
            None if grad_x is None else grad_x[:tokens],
            None if grad_w is None else grad_w.to(weight.dtype),
            None if grad_b is None else grad_b.to(bias.dtype),
        )
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grads = tuple(None if g is None else g * grad_loss.to(g.dtype) for g in ctx.grads)
        return *grads, None, None, None, None


def _softmax_loss(z: Tensor, targets: Tensor, smoothing: float, pad: int, grad_b: Tensor) -> Tensor:
    """The summed loss of logits z [n,V] against targets [n] (pad ignored), z turned into dloss/dz in place
    and its rows' sum added into grad_b (unless empty): torch's ops, as the kernel softmax_loss."""
    vocab, y = z.size(1), targets[:, None]  # [n,1]
    keep = (y != pad).to(z.dtype)  # [n,1]
    top = z.amax(dim=1, keepdim=True)  # [n,1]
    token_loss = -(1 - smoothing) * z.gather(1, y)  # [n,1]
    if smoothing:
        token_loss -= smoothing / vocab * z.sum(dim=1, keepdim=True)
    z.sub_(top).exp_()
    norm = z.sum(dim=1, keepdim=True)  # [n,1]
    token_loss += top + norm.log()  # + log-sum-exp
    z.div_(norm).scatter_add_(1, y, keep.new_full(y.shape, smoothing - 1))  # p - (1-e) onehot
    if smoothing:
        z.sub_(smoothing / vocab)
    z.mul_(keep)  # dloss/dz [n,V]
    if grad_b.numel():
        grad_b += z.sum(dim=0)
    return (token_loss * keep).sum()
