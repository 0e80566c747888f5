"""Matrix products in bfloat16 between fp32 tensors, for CPUs with bf16 matrix units (Intel AMX).

On such a CPU oneDNN multiplies bf16 matrices 3-7x faster than fp32 (measured on a Xeon with AMX:
a [100,1024] x [1024,1536] product 1.06 ms fp32, 0.28 ms bf16). Two things stand between a
training step and that rate:

- oneDNN compiles a kernel for every new shape (8-30 ms each, measured), and a step's shapes follow
  its batch. The rows (the batch, or the tokens a weight's gradient sums over) are padded with zeros
  to a multiple of ROWS, so that a few dozen shapes recur and stay in oneDNN's cache.
- A weight cast to bf16 at every step of a recurrent loop costs as much as the product; LoopLinears
  casts each weight once per pass.

Only the operands are rounded: oneDNN accumulates in fp32, results come back as fp32, and the recurrent
state, gates, softmax, loss and optimizer stay fp32 (unlike autocast, which runs the elementwise
work in bf16 too and casts every weight at every call).
"""

from __future__ import annotations

import torch
from torch import Tensor

ROWS = 64  # padded row multiple: the batches of a CPU run fall into a handful of shapes


def has_bf16_matrix_units() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def pad_rows(x: Tensor, multiple: int = ROWS, dtype: torch.dtype | None = None) -> Tensor:
    """x [n,...] as dtype (default x's) with zero rows appended up to a multiple of `multiple`: one copy
    (a cast and then a pad took twice as long), none where x already is both."""
    dtype = dtype or x.dtype
    rows, extra = x.size(0), -x.size(0) % multiple
    if not extra and x.dtype == dtype:
        return x
    out = x.new_empty((rows + extra, *x.shape[1:]), dtype=dtype)
    out[:rows].copy_(x)
    out[rows:].zero_()
    return out


def mm(a: Tensor, b: Tensor) -> Tensor:
    """a [n,k] @ b [k,m], b already bf16, a cast and its rows padded: fp32 [n,m]."""
    return (pad_rows(a, dtype=b.dtype) @ b)[: a.size(0)].float()


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x [B,in] @ weight[out,in].T + bias [out], weight already bf16: fp32 [B,out]."""
    out = mm(x, weight.t())
    return out if bias is None else out.add_(bias)


def mm_tn(a: Tensor, b: Tensor, dtype: torch.dtype = torch.bfloat16) -> Tensor:
    """a [n,k].T @ b [n,m] with operands in dtype, a sum over n rows (a weight's gradient): fp32 [k,m]."""
    return (pad_rows(a, dtype=dtype).t() @ pad_rows(b, dtype=dtype)).float()


class Linears:
    """x [B,in] @ W.T + b with each weight cast to bf16 once: a decoding loop's linear maps (no autograd)."""

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        self.dtype = dtype
        self._cast: dict[int, Tensor] = {}  # id(weight) -> its [out,in] cast, for this object's life

    def __call__(self, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """x [B,in] @ weight[out,in].T + bias [out], products in bf16: fp32 [B,out]."""
        low = self._cast.get(id(weight))
        if low is None:
            low = self._cast[id(weight)] = weight.detach().to(self.dtype)
        return linear(x, low, bias)
