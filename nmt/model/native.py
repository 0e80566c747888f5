"""The CPU kernels in nmt/model/csrc, compiled once per machine; None where they cannot be built.

The work between the matrix products is bound by passes over memory and by dispatch, not by arithmetic,
when torch runs it op by op: attention's energies (nmt.model.energies), a decoder step's attention and
GRU-and-readout (nmt.model.decoder_step), the encoder's GRU step (nmt.model.gru_sequence), the output
layer's softmax loss (nmt.model.output_loss) and decoding's choice of next tokens (nmt.model.search).
The kernels make one call and one to three passes where torch makes three to forty ops.

They are built with torch's own cpp_extension on first use (about 30 s on two cores, then loaded
from torch's extensions folder, TORCH_EXTENSIONS_DIR, keyed by the CPU's vector capability). Where
they cannot be built (no C++ compiler or ninja), a warning says why and torch's ops run instead,
with the same results.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
from pathlib import Path
from types import ModuleType

import torch

logger = logging.getLogger(__name__)

SOURCES = sorted((Path(__file__).parent / "csrc").glob("*.cpp"))
# ATen's at::vec picks its vector width from CPU_CAPABILITY_*, as torch's own kernels do.
VECTOR_FLAGS = {
    "AVX512": [
        "-mavx512f",
        "-mavx512bw",
        "-mavx512vl",
        "-mavx512dq",
        "-mfma",
        "-DCPU_CAPABILITY=AVX512",
        "-DCPU_CAPABILITY_AVX512",
    ],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}


@functools.cache
def kernels() -> ModuleType | None:
    """The compiled kernels (built on the first call on a machine), or None where they cannot be built."""
    return build()


def build() -> ModuleType | None:
    """Build (or load, if built) the kernels for this CPU; None, with a warning saying why, if that fails."""
    vector = torch.backends.cpu.get_cpu_capability()  # AVX512, AVX2, ... or DEFAULT: portable scalar code
    try:
        from torch.utils import cpp_extension

        _ninja_on_path()
        logger.info("loading the CPU kernels (building them takes about 30 s, once per machine)")
        return cpp_extension.load(
            f"nmt_kernels_{vector.lower()}",
            [str(path) for path in SOURCES],
            extra_cflags=["-O3", "-fopenmp", *VECTOR_FLAGS.get(vector, [])],
            extra_ldflags=["-fopenmp"],
        )
    except Exception as error:  # a missing compiler surfaces as OSError, RuntimeError or CalledProcessError
        logger.warning("the CPU kernels could not be built (%s); torch's ops run instead", _reason(error))
        logger.debug("building the CPU kernels failed", exc_info=error)
        return None


def _reason(error: Exception) -> str:
    """The line of a build failure that says what went wrong (ninja's output is mostly command lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if re.search(r"error:|not found|no such file", line, re.IGNORECASE)]
    telling = [line for line in telling if not line.startswith(("FAILED:", "ninja:"))]
    return (telling or lines or [type(error).__name__])[0][:300]


def for_cpu(x: torch.Tensor) -> ModuleType | None:
    """The kernels where they apply to x (an fp32 or fp64 CPU tensor), else None."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    return kernels()


def _ninja_on_path() -> None:
    """cpp_extension runs `ninja` from PATH: add the pip package's where no system ninja is."""
    if shutil.which("ninja") is None:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


if __name__ == "__main__":  # `make setup` builds the kernels here, so that no first run waits for them
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    built = kernels()
    print(f"CPU kernels: {built.__file__}" if built else "CPU kernels: not built; torch's ops run instead")
