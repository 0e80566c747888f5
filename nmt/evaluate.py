"""Evaluate stage: translate the test split(s) and score them with sacrebleu (BLEU, chrF)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import sacrebleu
from pydantic import BaseModel, ConfigDict, Field

from nmt.atomic import write_json, write_text
from nmt.device import resolve_device
from nmt.rundir import RunDir
from nmt.translate import Translator

log = logging.getLogger(__name__)


class EvaluateConfig(BaseModel):
    """Which splits to score and how to decode them."""

    model_config = ConfigDict(extra="forbid")

    splits: list[str] = Field(default_factory=lambda: ["test"], description="pairs-table splits")
    beam: int = Field(5, ge=1, description="beam size; 1 is greedy search")
    alpha: float = Field(0.6, ge=0.0, description="GNMT length penalty")
    batch_tokens: int = Field(4000, gt=0, description="source tokens per decoding batch")
    device: Literal["auto", "cpu", "cuda"] = "auto"


def score(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """Corpus BLEU (13a, cased) and chrF of detokenized hypotheses, with sacrebleu signatures."""
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(b.score, 2),
        "chrf": round(c.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
    }


def run_evaluate(run_dir: Path, cfg: EvaluateConfig, out_dir: Path) -> dict[str, Any]:
    """Score the model of `run_dir` on each split; write hypotheses and scores.json into out_dir."""
    started = time.perf_counter()
    run = RunDir(run_dir)
    pairs = pq.read_table(run.acquire / "pairs.parquet", columns=["id", "split", "src", "tgt"])
    available = sorted(set(pairs["split"].to_pylist()))
    missing = [s for s in cfg.splits if s not in available]
    if missing:
        raise ValueError(
            f"{run.acquire / 'pairs.parquet'}: no split(s) {missing} to evaluate; it has {available}"
        )
    translator = Translator.load(run.root, device=resolve_device(cfg.device))
    scores: dict[str, Any] = {}
    files = []
    for split in cfg.splits:
        rows = pairs.filter(pc.equal(pairs["split"], split)).sort_by("id")
        sources, references = rows["src"].to_pylist(), rows["tgt"].to_pylist()
        log.info("evaluate: translating %d %s sentences (beam %d)", len(sources), split, cfg.beam)
        results = translator.translate(
            sources, beam=cfg.beam, alpha=cfg.alpha, batch_tokens=cfg.batch_tokens
        )
        hypotheses = [r.translation for r in results]
        hyp_path = Path(out_dir) / f"{split}.hyp.txt"
        write_text(hyp_path, "".join(h + "\n" for h in hypotheses))
        files.append(str(hyp_path))
        scores[split] = score(hypotheses, references)
        log.info("evaluate: %s BLEU %.2f chrF %.2f", split, scores[split]["bleu"], scores[split]["chrf"])
    summary = {
        "scores": scores,
        "beam": cfg.beam,
        "alpha": cfg.alpha,
        "model": str(translator.checkpoint),
        "files": files,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(Path(out_dir) / "scores.json", summary)
    return summary
