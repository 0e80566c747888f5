"""The statistical word aligner: eflomal (Östling and Tiedemann, 2016) in both directions, and its priors.

eflomal samples a Bayesian HMM with fertilities (model 3) for the source->target ("forward")
and target->source ("reverse") directions; both write Pharaoh `i-j` links, 0-based, source index
first, one line per input line. Its input is one sentence per line of lowercased words
(nmt.align.words.aligner_line); it has no seed, so two runs differ slightly.

Priors (eflomal's `makepriors`: lexical counts of the forward links, jump and fertility counts of
each direction) keep what the aligner learnt from a corpus, so that new pairs can be aligned
later without it.

eflomal is an optional dependency: it ships as C source and needs a compiler to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nmt.core.atomic import atomic_path

INSTALL = "pip install 'nmt-bahdanau[align]'"
MISSING = f"the statistical aligner needs eflomal, which is not installed: {INSTALL} (needs a C compiler)"


class AlignerMissing(RuntimeError):
    """eflomal is not installed."""


class StatisticalConfig(BaseModel):
    """eflomal's settings (its defaults)."""

    model_config = ConfigDict(extra="forbid")

    model: Literal[1, 2, 3] = Field(3, description="1: IBM model 1, 2: + HMM jumps, 3: + fertilities")
    samplers: int = Field(3, gt=0, description="independent samplers whose marginals are averaged")
    iterations: float = Field(1.0, gt=0.0, description="iterations relative to eflomal's default")
    null_prior: float = Field(0.2, ge=0.0, le=1.0, description="prior probability of an unaligned word")


def eflomal_installed() -> bool:
    """Whether eflomal can be imported."""
    return importlib.util.find_spec("eflomal") is not None


def load_eflomal() -> ModuleType:
    """The eflomal module, or AlignerMissing with the install command."""
    try:
        import eflomal
    except ImportError as exc:
        raise AlignerMissing(MISSING) from exc
    return eflomal


def align_files(
    src: Path, tgt: Path, forward: Path, reverse: Path, cfg: StatisticalConfig, priors: Path | None = None
) -> None:
    """Align line-parallel aligner input files both ways, writing Pharaoh links to `forward` and `reverse`."""
    eflomal = load_eflomal()
    aligner = eflomal.Aligner(
        model=cfg.model, n_samplers=cfg.samplers, rel_iterations=cfg.iterations, null_prior=cfg.null_prior
    )
    with contextlib.ExitStack() as stack:
        src_lines = stack.enter_context(open(src, encoding="utf-8"))
        tgt_lines = stack.enter_context(open(tgt, encoding="utf-8"))
        priors_lines = stack.enter_context(open(priors, encoding="utf-8")) if priors else None
        aligner.align(
            src_lines,
            tgt_lines,
            links_filename_fwd=str(forward),
            links_filename_rev=str(reverse),
            priors_input=priors_lines,
        )


def write_priors(src: Path, tgt: Path, forward: Path, reverse: Path, out: Path) -> None:
    """Write eflomal priors estimated from aligned input files and their links to `out`."""
    eflomal = load_eflomal()
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open(p, encoding="utf-8")) for p in (src, tgt, forward, reverse)]
        estimated = eflomal.calculate_priors(*files)
        tmp = stack.enter_context(atomic_path(out))
        with open(tmp, "w", encoding="utf-8") as fh:
            eflomal.write_priors(fh, *estimated)
