"""bf16 products between fp32 tensors: rows padded to recurring shapes, results fp32 and close to fp32's."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nmt.model import bf16_matmul
from nmt.model.bf16_matmul import ROWS, Linears, pad_rows


def bf16_reference(a, b):
    """The product of the operands rounded to bf16, accumulated in fp32: what oneDNN computes."""
    return a.bfloat16().float() @ b.bfloat16().float()


def test_pad_rows_appends_zero_rows_to_the_next_multiple_only():
    x = torch.arange(6.0).view(3, 2)
    padded = pad_rows(x, 4)
    assert padded.shape == (4, 2)
    torch.testing.assert_close(padded[:3], x)
    assert padded[3].abs().sum() == 0
    assert pad_rows(torch.ones(8, 2), 4).shape == (8, 2)
    assert pad_rows(torch.ones(5), 4).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert pad_rows(torch.ones(1, 2, 3)).shape == (ROWS, 2, 3)


def test_products_are_fp32_of_the_unpadded_shape_and_equal_the_bf16_rounded_product():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(37, 48, generator=g), torch.randn(48, 20, generator=g)
    got = bf16_matmul.mm(a, b.bfloat16())
    assert got.dtype == torch.float32 and got.shape == (37, 20)
    torch.testing.assert_close(got, bf16_reference(a, b), rtol=1e-2, atol=1e-2)
    assert (got - a @ b).abs().max() > 0  # the operands were rounded: not an fp32 product
    c = torch.randn(37, 20, generator=g)
    got_tn = bf16_matmul.mm_tn(a.bfloat16(), c.bfloat16())  # a sum over the 37 rows
    assert got_tn.dtype == torch.float32 and got_tn.shape == (48, 20)
    torch.testing.assert_close(got_tn, bf16_reference(a.t(), c), rtol=1e-2, atol=1e-2)


def test_linears_cast_each_weight_once_and_match_f_linear():
    g = torch.Generator().manual_seed(1)
    x, w, bias = torch.randn(5, 12, generator=g), torch.randn(7, 12, generator=g), torch.randn(7, generator=g)
    linears = Linears()
    first = linears(x, w, bias)
    w.data.mul_(2)  # the cast is kept for the object's life (one decoding batch): not re-read
    torch.testing.assert_close(linears(x, w, bias), first)
    torch.testing.assert_close(first, F.linear(x, w / 2, bias), rtol=2e-2, atol=2e-2)
    assert Linears()(x, w).shape == (5, 7)


def test_has_bf16_matrix_units_agrees_with_the_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    assert bf16_matmul.has_bf16_matrix_units() == ("amx_tile" in cpuinfo.read_text().split())
