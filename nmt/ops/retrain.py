"""Retrain: train a candidate run, register it, and promote it only if it beats the current model.

Both models translate the same sentences (the candidate's dev split) with the same decoding
settings (the evaluate stage's widest beam), and the candidate is promoted only when its BLEU is
strictly higher; the first model of a language pair is promoted as it is. Every candidate is
registered, promoted or not.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nmt.core.device import resolve_device
from nmt.core.rundir import RunDir, run_languages
from nmt.data.pairs import read_split
from nmt.evaluate.scores import EvaluateConfig, score
from nmt.model.search import DecodeConfig
from nmt.ops.registry import Registry
from nmt.pipeline import PipelineConfig, build_model
from nmt.translate.translator import Translator

log = logging.getLogger(__name__)

METRIC = "bleu"


def dev_scores(
    model_dir: Path, pairs_path: Path, split: str, decode: DecodeConfig, device: str = "auto"
) -> dict[str, Any]:
    """Scores of the model in `model_dir` on one split of a pairs table, decoded as `decode` says."""
    rows = read_split(pairs_path, split)
    if rows.num_rows == 0:
        raise ValueError(f"{pairs_path}: no {split!r} split to compare models on")
    translator = Translator.load(Path(model_dir), device=resolve_device(device))
    results = translator.translate(rows["src"].to_pylist(), decode)
    return score([r.translation for r in results], rows["tgt"].to_pylist(), run_languages(model_dir)[1])


def is_better(candidate: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Whether candidate scores beat the current model's (strictly); any candidate beats no model."""
    return current is None or candidate[METRIC] > current[METRIC]


def consider(
    run_dir: Path, registry: Registry, evaluate: EvaluateConfig, dev_split: str = "valid"
) -> dict[str, Any]:
    """Score candidate and current model on the candidate's dev split, register, promote if better.

    Both decode with the evaluate stage's widest DecodeConfig, on its device.
    """
    pairs = RunDir(run_dir).acquire / "pairs.parquet"
    decode, device = evaluate.decodings()[-1], evaluate.device
    candidate = dev_scores(Path(run_dir), pairs, dev_split, decode, device)
    card = registry.register(run_dir, scores={dev_split: candidate})
    current_id = registry.current(card["pair"])
    current = None
    if current_id is not None and current_id != card["model_id"]:
        current = dev_scores(registry.model_dir(current_id), pairs, dev_split, decode, device)
    if current_id == card["model_id"]:
        promoted, reason = False, "the candidate is already the current model"
    elif is_better(candidate, current):
        promoted = True
        reason = (
            "first model of the pair"
            if current is None
            else f"{dev_split} {METRIC} {candidate[METRIC]:.2f} > {current[METRIC]:.2f} of {current_id}"
        )
        registry.promote(card["model_id"], reason)
    else:
        promoted = False
        reason = f"{dev_split} {METRIC} {candidate[METRIC]:.2f} <= {current[METRIC]:.2f} of {current_id}"
    log.info("retrain: %s %s (%s)", card["model_id"], "promoted" if promoted else "not promoted", reason)
    return {
        "pair": card["pair"],
        "candidate": card["model_id"],
        "current_before": current_id,
        "current": registry.current(card["pair"]),
        "promoted": promoted,
        "reason": reason,
        "split": dev_split,
        "metric": METRIC,
        "candidate_scores": candidate,
        "current_scores": current,
        "run_dir": str(run_dir),
    }


def register_run(run_dir: Path, registry: Registry) -> dict[str, Any]:
    """Register a run without comparing it; promote it only when its pair has no current model."""
    card = registry.register(run_dir)
    promoted = registry.current(card["pair"]) is None
    if promoted:
        registry.promote(card["model_id"], "first model of the pair")
    return {"pair": card["pair"], "model_id": card["model_id"], "promoted": promoted}


def run_retrain(cfg: PipelineConfig, registry: Registry, dev_split: str = "valid") -> dict[str, Any]:
    """Acquire, tokenize, train and evaluate a candidate run, then `consider` it for promotion."""
    run_dir = build_model(cfg)
    log.info("retrain: candidate run %s", run_dir)
    return consider(run_dir, registry, cfg.evaluate, dev_split)
