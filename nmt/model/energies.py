"""Bahdanau attention's energies in CPU training: a C++ kernel, built once per machine, or torch's ops.

    h = tanh(keys + p)           [B,S,A]    p = W_a s_{i-1} + b_a  [B,A]
    scores = h v                 [B,S]      -inf at padding

torch runs the forward as three passes over the [B,S,A] block and the backward as five; the block
(4 MB at B=90, S=22, A=512) does not stay in cache between them, so each step is bound by memory
traffic (measured on a Xeon: 0.43 ms forward, 0.74 ms backward). csrc/attention_energies.cpp makes
one pass each way and skips padding (0.32 ms and 0.24 ms). It is compiled with torch's own
cpp_extension on first use (about 25 s, then cached in torch's extensions folder, keyed by the CPU's
vector capability); where it cannot be built (no C++ compiler or ninja) a warning says why and torch's
ops run instead, with the same results.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "csrc" / "attention_energies.cpp"
# ATen's at::vec picks its vector width from CPU_CAPABILITY_*; AVX2 on CPUs with AVX2 or AVX-512 (the
# kernel is bound by memory traffic, not by vector width), else the portable scalar code.
AVX2 = ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]


@functools.cache
def kernel() -> ModuleType | None:
    """The compiled kernel (built on first call), or None where it cannot be built."""
    vector = "avx2" if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") else "default"
    try:
        from torch.utils import cpp_extension

        _ninja_on_path()
        logger.info("building the attention energies kernel (once per machine, about 25 s)")
        return cpp_extension.load(
            f"nmt_attention_energies_{vector}",
            [str(SOURCE)],
            extra_cflags=["-O3", "-fopenmp", *(AVX2 if vector == "avx2" else [])],
            extra_ldflags=["-fopenmp"],
        )
    except Exception as error:  # a missing compiler surfaces as OSError, RuntimeError or CalledProcessError
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        logger.warning(
            "attention energies: the C++ kernel could not be built (%s); using torch's ops", first_line
        )
        return None


def _ninja_on_path() -> None:
    """cpp_extension runs `ninja` from PATH: add the pip package's where no system ninja is."""
    if shutil.which("ninja") is None:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def _native(keys: Tensor) -> ModuleType | None:
    """The kernel where it applies (fp32 or fp64 CPU tensors), else None."""
    if keys.device.type != "cpu" or keys.dtype not in (torch.float32, torch.float64):
        return None
    return kernel()


def forward(keys: Tensor, p: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """h = tanh(keys [B,S,A] + p [B,A]) and scores h v [B,S] (-inf where mask [B,S] is False)."""
    native = _native(keys)
    if native is not None:
        scores, hid = native.forward(keys, p, v, mask, True)
        return hid, scores
    return forward_torch(keys, p, v, mask)


def scores(keys: Tensor, p: Tensor, v: Tensor, mask: Tensor) -> Tensor | None:
    """forward's scores alone [B,S], without writing h (decoding), where the kernel applies; else None."""
    native = _native(keys)
    return None if native is None else native.forward(keys, p, v, mask, False)[0]


def backward(
    g_scores: Tensor, hid: Tensor, v: Tensor, mask: Tensor, g_keys: Tensor, g_p: Tensor, g_v: Tensor
):
    """From dL/dscores [B,S]: dL/dkeys added into g_keys [B,S,A], dL/dv into g_v [A]; dL/dp into g_p [B,A]."""
    native = _native(hid)
    if native is not None:
        native.backward(g_scores.contiguous(), hid, v, mask, g_keys, g_p, g_v)
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
