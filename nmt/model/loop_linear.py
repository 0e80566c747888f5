"""Linear maps applied at every step of a recurrent loop, with each weight's gradient one product.

Autograd differentiates a weight W used at T steps as T separate uses: each step's backward
computes g_i^T x_i, a product whose inner dimension is only the batch (80-300 rows on a CPU
batch), and the engine adds the T weight-sized results one by one. Here each step's backward
computes only its input's gradient g_i W and keeps g_i; when backward reaches the loop's start,
W's gradient is one product over all steps, cat(g)^T cat(x), and the bias's one sum.

    linears = LoopLinears()                 # one per forward pass
    h = linears(x_i, cell.weight_hh, cell.bias_hh)   # inside the loop: x_i @ W^T + b

Outside autograd (no_grad, or weights that need no gradient) a call is plain F.linear.
LoopLinears(torch.bfloat16) runs the products in bf16 (nmt.model.bf16_matmul), each weight cast once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.model import bf16_matmul


class LoopLinears:
    """The linear maps of one pass through a loop, each weight's gradient deferred to the loop's start."""

    def __init__(self, dtype: torch.dtype | None = None) -> None:
        """dtype: the products' operand type (bf16 on CPUs with bf16 matrix units); None: the inputs'."""
        self._maps: dict[int, _Deferred] = {}
        self.dtype = dtype

    def __call__(self, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """x [B,in] @ weight[out,in].T + bias [out]: [B,out]."""
        if not (torch.is_grad_enabled() and weight.requires_grad):
            return F.linear(x, weight, bias)
        key = id(weight)
        if key not in self._maps:
            self._maps[key] = _Deferred(weight, bias, self.dtype)
        return self._maps[key](x)


class _Deferred:
    """One weight's steps: what its deferred gradient reads, and the token that triggers it."""

    def __init__(self, weight: Tensor, bias: Tensor | None, dtype: torch.dtype | None):
        self.weight, self.bias = weight.detach(), None if bias is None else bias.detach()
        self.low = None if dtype is None else self.weight.to(dtype)  # [out,in] cast once per pass
        self.inputs: list[Tensor] = []  # x_i [B,in], filled by the steps' backwards
        self.grads: list[Tensor] = []  # g_i [B,out], in the same order
        # A scalar that every step reads: autograd runs its backward after all the steps' backwards.
        self.token = _Gather.apply(self, weight, bias)

    def __call__(self, x: Tensor) -> Tensor:
        return _Step.apply(self, x, self.token)


class _Step(torch.autograd.Function):
    """One step's x W^T + b; backward gives x its gradient and keeps g for the weight's."""

    @staticmethod
    def forward(ctx, owner, x, token):
        if owner.low is None:
            out = F.linear(x, owner.weight, owner.bias)  # autocast casts as nn.Linear's would
        else:
            out = bf16_matmul.linear(x, owner.low, owner.bias)  # [B,out] fp32
        ctx.owner = owner
        ctx.dtype = out.dtype if owner.low is None else owner.low.dtype  # what the weight's gradient reads
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        owner = ctx.owner
        owner.inputs.append(x.to(ctx.dtype))
        owner.grads.append(grad.to(ctx.dtype))
        grad_x = None  # [B,in]
        if ctx.needs_input_grad[1] and owner.low is None:
            grad_x = grad @ owner.weight.to(grad.dtype)
        elif ctx.needs_input_grad[1]:
            grad_x = bf16_matmul.mm(grad, owner.low)
        return None, grad_x, grad.new_zeros(())


class _Gather(torch.autograd.Function):
    """The weight's and bias's gradients over every step at once: cat(g)^T cat(x) and sum(g)."""

    @staticmethod
    def forward(ctx, owner, weight, bias):
        ctx.owner = owner
        return weight.new_zeros(())

    @staticmethod
    def backward(ctx, _):
        owner = ctx.owner
        grads, inputs = torch.cat(owner.grads), torch.cat(owner.inputs)  # [N,out], [N,in]
        owner.grads, owner.inputs = [], []
        grad_w = None  # [out,in]
        if ctx.needs_input_grad[1]:
            grad_w = grads.t() @ inputs if owner.low is None else bf16_matmul.mm_tn(grads, inputs)
            grad_w = grad_w.to(owner.weight.dtype)
        accumulate = torch.promote_types(grads.dtype, torch.float32)
        grad_b = grads.sum(0, dtype=accumulate).to(owner.bias.dtype) if ctx.needs_input_grad[2] else None
        return None, grad_w, grad_b
