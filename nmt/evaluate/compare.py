"""Comparing two evaluated runs on one test set: score differences with a paired significance test.

Both runs must have been evaluated (nmt.evaluate) with the same decoding on a test set with the
same references. sacrebleu's paired bootstrap resampling (Koehn, 2004; 1000 samples, sacrebleu's
fixed seed unless SACREBLEU_SEED is set) gives, per metric, the p-value of the second run's
difference from the first; with `approximate=True` paired approximate randomization is used.
sacrebleu (after multeval) gives a zero difference its smallest p-value; we report p = 1 for a
difference that rounds to 0.00, which no test can call significant.
"""

from __future__ import annotations

from pathlib import Path

from sacrebleu.significance import PairedTest

from nmt.core.rundir import RunDir, run_languages
from nmt.data.pairs import read_split
from nmt.evaluate.scores import METRIC_NAMES, decoding_name, new_metrics
from nmt.model.search import DECODE_DEFAULTS


def _hypotheses(run_dir: Path, test_set: str, decoding: str) -> list[str]:
    """The hypotheses the evaluate stage wrote for a test set and decoding."""
    path = RunDir(run_dir).evaluate / f"{test_set}.{decoding}.hyp.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run `nmt evaluate --model {run_dir} --beam ...` first")
    return path.read_text(encoding="utf-8").splitlines()


def _references(run_dir: Path, test_set: str) -> list[str]:
    """The references of a test set, in id order."""
    return read_split(RunDir(run_dir).acquire / "pairs.parquet", test_set, ("tgt",))["tgt"].to_pylist()


def compare(
    baseline: Path,
    candidate: Path,
    test_set: str = "test",
    beam: int = DECODE_DEFAULTS.beam,
    samples: int = 1000,
    approximate: bool = False,
) -> dict:
    """Scores of both runs, the candidate's differences and their p-values, per metric."""
    decoding = decoding_name(beam)
    refs = _references(baseline, test_set)
    if refs != _references(candidate, test_set):
        raise ValueError(
            f"{baseline} and {candidate} have different {test_set!r} references; nothing to compare"
        )
    systems = [(str(run), _hypotheses(run, test_set, decoding)) for run in (baseline, candidate)]
    for name, hyps in systems:
        if len(hyps) != len(refs):
            raise ValueError(
                f"{name}: {len(hyps)} {decoding} hypotheses for {len(refs)} {test_set} references"
            )
    test = PairedTest(
        systems,
        dict(zip(METRIC_NAMES, new_metrics(run_languages(baseline)[1]), strict=True)),
        references=[refs],
        test_type="ar" if approximate else "bs",
        n_samples=samples,
    )
    signatures, results = test()
    rows = []
    keys = [k for k in results if k != "System"]  # sacrebleu's names: BLEU, chrF2, TER
    for name, key in zip(METRIC_NAMES, keys, strict=True):
        base, cand = results[key]
        delta = round(cand.score - base.score, 2)
        p_value = 1.0 if delta == 0 else cand.p_value
        rows.append(
            {
                "metric": name,
                "baseline": round(base.score, 2),
                "candidate": round(cand.score, 2),
                "delta": delta,
                "p_value": p_value,
                "significant": p_value < 0.05,
                "signature": str(signatures[key]),
            }
        )
    return {
        "test_set": test_set,
        "decoding": decoding,
        "sentences": len(refs),
        "test": "approximate randomization" if approximate else "paired bootstrap",
        "samples": samples,
        "metrics": rows,
    }


def to_text(result: dict, baseline: str, candidate: str) -> str:
    """The comparison as a table; lower is better for TER."""
    lines = [
        f"{result['test_set']} ({result['sentences']} sentences, {result['decoding']}), "
        f"{result['test']} with {result['samples']} samples",
        f"  baseline:  {baseline}",
        f"  candidate: {candidate}",
        f"  {'metric':<6} {'baseline':>9} {'candidate':>9} {'delta':>7} {'p-value':>8}",
    ]
    for r in result["metrics"]:
        mark = " *" if r["significant"] else ""
        scores = f"{r['baseline']:>9.2f} {r['candidate']:>9.2f} {r['delta']:>+7.2f}"
        lines.append(f"  {r['metric']:<6} {scores} {r['p_value']:>8.4f}{mark}")
    lines.append("  * p < 0.05; TER: lower is better")
    return "\n".join(lines)
