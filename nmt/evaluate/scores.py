"""Evaluate stage: every test set scored with sacrebleu (BLEU, chrF, TER) under greedy and beam
search, attention scored as a word aligner where the corpus has gold alignments, and heatmaps.

Outputs in <run>/evaluate: `<test set>.<decoding>.hyp.txt`, `metrics.parquet` (schema METRICS:
one row per model, test set, decoding and metric; also appended to `metrics_table` when given,
replacing earlier rows of the same model, test set, decoding and metric), `alignment/<test
set>.links` (Pharaoh) with AER, precision and recall against `acquire/gold/<test set>.talp` (the
attention labelled guided when the train stage used guided alignment; beside it the model's
alignment head where it has one, and the run's statistical aligner, its priors and intersection
links, where the run has an align stage), and
`heatmaps/*.png`: chosen sentences as translated (pieces on the axes), and the worst-aligned
sentences under forced decoding of the reference (words on the axes, gold sure links outlined).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sacrebleu
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nmt.align import aer
from nmt.align.corpus import align_dir
from nmt.align.given import align_word_pairs
from nmt.align.links import pharaoh
from nmt.align.statistical import eflomal_installed
from nmt.align.symmetrize import symmetrize
from nmt.core.atomic import read_json, write_json, write_parquet, write_text
from nmt.core.device import DeviceName, resolve_device
from nmt.core.lock import locks_folder
from nmt.core.rundir import RunDir, run_languages
from nmt.core.schema import METRICS
from nmt.data.pairs import read_split, split_names
from nmt.evaluate.forced import AlignConfig, align_pairs, draw_worst
from nmt.evaluate.heatmap import save_heatmap
from nmt.model.search import DecodeConfig, nest_decoding
from nmt.text.bleu_tokenizer import new_bleu
from nmt.translate.translator import Result, Translator

log = logging.getLogger(__name__)

METRIC_NAMES = ("BLEU", "chrF", "TER")
KEY = ("model_id", "test_set", "decoding", "metric")


class EvaluateConfig(BaseModel):
    """Which test sets to score, how to decode them, and what to draw."""

    model_config = ConfigDict(extra="forbid")

    splits: list[str] | None = Field(
        None, description="splits of the pairs table; None: every test set (`test` and `test_*`)"
    )
    decode: DecodeConfig = Field(
        default_factory=DecodeConfig, description="decoding (and forced decoding's batch budget)"
    )
    beams: list[int] | None = Field(
        None,
        min_length=1,
        description="beam sizes to score, each with decode's other settings; None: 1 and decode.beam",
    )
    device: DeviceName = Field(
        "auto", description='torch device (cpu, cuda, cuda:1, ...); "auto": CUDA if present'
    )
    metrics_table: Path | None = Field(
        None, description="a Parquet metrics table shared by runs, appended to"
    )
    align: AlignConfig = Field(default_factory=AlignConfig, description="attention -> links, for the gold")
    heatmap_sentences: list[int] = Field(
        default_factory=lambda: [0, 1, 2], description="0-based sentences of the first test set to draw"
    )
    heatmap_worst: int = Field(3, ge=0, description="worst-aligned sentences to draw, where there is a gold")

    _flat_decoding = model_validator(mode="before")(nest_decoding)  # alpha=0.8 means decode.alpha=0.8

    def decodings(self) -> list[DecodeConfig]:
        """One DecodeConfig per beam size to score, narrowest first (one hypothesis each)."""
        beams = sorted(set(self.beams or [1, self.decode.beam]))
        return [self.decode.model_copy(update={"beam": beam, "n_best": 1}) for beam in beams]


def decoding_name(beam: int) -> str:
    """ "greedy" for beam 1, else "beam<k>"."""
    return "greedy" if beam == 1 else f"beam{beam}"


def score(hypotheses: list[str], references: list[str], tgt_lang: str | None = None) -> dict[str, Any]:
    """Corpus BLEU (cased, tokenized for `tgt_lang`: nmt.text.bleu_tokenizer), chrF and TER of
    detokenized hypotheses, with sacrebleu signatures."""
    out: dict[str, Any] = {"sentences": len(hypotheses)}
    for name, metric in zip(METRIC_NAMES, new_metrics(tgt_lang), strict=True):
        out[name.lower()] = round(metric.corpus_score(hypotheses, [references]).score, 2)
        out[f"{name.lower()}_signature"] = str(metric.get_signature())
    return out


def new_metrics(tgt_lang: str | None = None) -> list[sacrebleu.metrics.base.Metric]:
    """Fresh BLEU (tokenized for `tgt_lang`), chrF and TER metric objects, in METRIC_NAMES order."""
    return [new_bleu(tgt_lang), sacrebleu.metrics.CHRF(), sacrebleu.metrics.TER()]


def find_test_sets(splits: list[str]) -> list[str]:
    """The test sets among a pairs table's splits: `test` first, then `test_*` in name order."""
    return sorted((s for s in splits if s == "test" or s.startswith("test_")), key=lambda s: (s != "test", s))


@locks_folder("evaluate", wait=True)
def run_evaluate(run_dir: Path, cfg: EvaluateConfig, out_dir: Path) -> dict[str, Any]:
    """Score the model of `run_dir` on each test set and decoding; write everything into out_dir."""
    started = time.perf_counter()
    run, out_dir = RunDir(run_dir), Path(out_dir)
    pairs_path = run.acquire / "pairs.parquet"
    available = split_names(pairs_path)
    splits = cfg.splits if cfg.splits is not None else find_test_sets(available)
    missing = [s for s in splits if s not in available]
    if missing or not splits:
        raise ValueError(f"{pairs_path}: no split(s) {missing or 'test*'} to evaluate; has {available}")
    translator = Translator.load(run.root, device=resolve_device(cfg.device))
    languages = run_languages(run.root)  # (src, tgt) from the acquire manifest
    pair = "-".join(lang or "?" for lang in languages)
    scores: dict[str, Any] = {}
    rows: list[dict] = []
    files: list[str] = []
    alignment: dict[str, Any] = {}
    heatmaps: list[str] = []
    decodings = cfg.decodings()
    for n, split in enumerate(splits):
        table = read_split(pairs_path, split)
        sources, references = table["src"].to_pylist(), table["tgt"].to_pylist()
        for decode in decodings:
            name = decoding_name(decode.beam)
            log.info("evaluate: translating %d %s sentences (%s)", len(sources), split, name)
            results = translator.translate(sources, decode)
            hypotheses = [r.translation for r in results]
            hyp_path = out_dir / f"{split}.{name}.hyp.txt"
            write_text(hyp_path, "".join(h + "\n" for h in hypotheses))
            files.append(str(hyp_path))
            result = score(hypotheses, references, languages[1])
            scores[split] = {**result, "decoding": name}  # the widest beam is listed last, and kept
            rows += _rows(result, translator.model_id, run, pair, split, name)
            log.info(
                "evaluate: %s %s BLEU %.2f chrF %.2f TER %.2f",
                split,
                name,
                result["bleu"],
                result["chrf"],
                result["ter"],
            )
            if n == 0 and decode is decodings[-1]:
                heatmaps += _draw_translations(
                    translator, results, cfg.heatmap_sentences, out_dir / "heatmaps", split
                )
        gold_path = run.acquire / "gold" / f"{split}.talp"
        if gold_path.exists():
            alignment[split], drawn = _score_alignment(
                run.root, translator, sources, references, languages, gold_path, cfg, out_dir, split
            )
            heatmaps += drawn
    table = pa.Table.from_pylist(rows, schema=METRICS)
    write_parquet(out_dir / "metrics.parquet", table)
    if cfg.metrics_table is not None:
        append_metrics(cfg.metrics_table, table)
    summary = {
        "scores": scores,
        "metrics": [{k: r[k] for k in ("test_set", "decoding", "metric", "score")} for r in rows],
        "alignment": alignment,
        "beams": [d.beam for d in decodings],
        "alpha": cfg.decode.alpha,
        "model": str(translator.checkpoint),
        "model_id": translator.model_id,
        "files": files,
        "metrics_table": str(cfg.metrics_table) if cfg.metrics_table else None,
        "heatmaps": heatmaps,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(out_dir / "scores.json", summary)
    return summary


def _rows(result: dict, model_id: str, run: RunDir, pair: str, split: str, decoding: str) -> list[dict]:
    """METRICS rows of one test set and decoding."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return [
        {
            "model_id": model_id,
            "run": str(run.root),
            "pair": pair,
            "test_set": split,
            "decoding": decoding,
            "metric": name,
            "score": float(result[name.lower()]),
            "signature": result[f"{name.lower()}_signature"],
            "sentences": result["sentences"],
            "evaluated_at": now,
        }
        for name in METRIC_NAMES
    ]


def append_metrics(path: Path, rows: pa.Table) -> pa.Table:
    """Add rows to a shared metrics table; they replace rows of the same model, test set, decoding, metric."""
    path, rows = Path(path), rows.cast(METRICS)
    if path.exists():
        old = pq.read_table(path).cast(METRICS)
        new_keys = {tuple(r[k] for k in KEY) for r in rows.select(list(KEY)).to_pylist()}
        keep = [tuple(r[k] for k in KEY) not in new_keys for r in old.select(list(KEY)).to_pylist()]
        rows = pa.concat_tables([old.filter(pa.array(keep, pa.bool_())), rows])
    write_parquet(path, rows)
    return rows


def trained_with_guidance(run_dir: Path) -> bool:
    """Whether the run's train stage used guided alignment (its report's train summary)."""
    path = RunDir(run_dir).report
    train = read_json(path).get("stages", {}).get("train", {}) if path.exists() else {}
    return bool((train.get("guided_alignment") or {}).get("weight"))


def _score_alignment(
    run_dir: Path,
    translator: Translator,
    sources: list[str],
    references: list[str],
    languages: tuple[str | None, str | None],
    gold_path: Path,
    cfg: EvaluateConfig,
    out_dir: Path,
    split: str,
) -> tuple[dict, list[str]]:
    """Forced alignment of the references scored against the gold, and the run's statistical aligner
    where it has one; heatmaps of the worst sentences."""
    gold = aer.read_talp(gold_path)
    if len(gold) != len(sources):
        raise ValueError(f"{gold_path}: {len(gold)} gold alignments for {len(sources)} {split} pairs")
    words = [
        (s.split(), t.split()) if s.split() and t.split() else None
        for s, t in zip(sources, references, strict=True)
    ]
    aligned = align_pairs(translator, words, cfg.align, languages, cfg.decode)
    predicted = [a.links if a else set() for a in aligned]
    links_path = out_dir / "alignment" / f"{split}.links"
    write_text(links_path, "".join(pharaoh(x) + "\n" for x in predicted))
    result = {
        **aer.score(predicted, gold).as_dict(),
        "diagonal_aer": aer.score(aer.diagonal_links(words), gold).aer,
        "links": str(links_path),
        "gold": str(gold_path),
        "config": cfg.align.model_dump(),
    }
    result["attention"] = "guided" if trained_with_guidance(run_dir) else "unguided"
    if translator.model.align_head is not None:  # the model's alignment head, read the same way
        head = align_pairs(
            translator, words, cfg.align.model_copy(update={"weights": "head"}), languages, cfg.decode
        )
        result["head"] = aer.score([x.links if x else set() for x in head], gold).as_dict()
    if (align_dir(run_dir) / "priors.txt").exists() and eflomal_installed():
        both = align_word_pairs(run_dir, words)  # the run's aligner with its priors
        chosen = [symmetrize(f, r, "intersection") for f, r in both]
        result["statistical"] = {**aer.score(chosen, gold).as_dict(), "symmetrization": "intersection"}
    log.info("evaluate: %s alignment AER %.3f (diagonal %.3f)", split, result["aer"], result["diagonal_aer"])
    drawn = draw_worst(aligned, gold, out_dir / "heatmaps" / f"{split}-worst", cfg.heatmap_worst)
    return result, [str(p) for p in drawn]


def _draw_translations(
    translator: Translator, results: list[Result], chosen: list[int], out_dir: Path, split: str
) -> list[str]:
    """Heatmaps of chosen sentences as translated: source pieces across, output pieces down (EOS included)."""
    tok = translator.tokenizer
    paths = []
    for k in (k for k in chosen if 0 <= k < len(results)):
        r = results[k]
        src = [*tok.src_pieces(r.src_ids), "</s>"]
        tgt = [*tok.tgt_pieces(r.tgt_ids), "</s>"]
        path = out_dir / f"{split}-{k:05d}.png"
        save_heatmap(r.attention, src, tgt, path, f"{split} sentence {k} (0-based), as translated")
        paths.append(str(path))
    return paths
