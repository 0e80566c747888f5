"""The stages chained; each stage function also records its summary in the report.

The chain is written once, here: `build_model` runs `BUILD_STAGES` in order through a
`StageRunner` (by default `run_stage`, the plain `*_stage` functions). The Prefect flows pass a
runner that starts each stage's flow instead (tasks with retries, artifacts), whose tasks call
the same `*_stage` functions; the CLI's `nmt run` calls `run_pipeline`. Both paths do identical
work in the same order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from nmt import report
from nmt.align.corpus import AlignCorpusConfig, run_align_corpus
from nmt.align.pieces import write_piece_map
from nmt.align.statistical import INSTALL, eflomal_installed
from nmt.core.atomic import write_json, write_text
from nmt.core.rundir import RunDir
from nmt.data.acquire import AcquireConfig, GeneratedSource, run_acquire
from nmt.evaluate.scores import EvaluateConfig, run_evaluate
from nmt.text.tokenization import TokenizeConfig, Tokenizer, run_tokenize
from nmt.train.config import TrainConfig
from nmt.train.run import run_train
from nmt.translate.job import TranslateConfig, run_translate

log = logging.getLogger(__name__)

SAMPLE_JOB = "sample"


class PipelineConfig(BaseModel):
    """Every stage's settings plus where the run lives."""

    model_config = ConfigDict(extra="forbid")

    run_root: Path = Field(Path("data/runs"), description="folder holding one folder per run")
    run_name: str | None = Field(None, description="default: <source kind>-<UTC time>")
    acquire: AcquireConfig = Field(default_factory=AcquireConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    align: AlignCorpusConfig = Field(default_factory=AlignCorpusConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    translate: TranslateConfig = Field(default_factory=TranslateConfig)
    documents: list[Path] = Field(
        default_factory=list,
        description="documents to translate; empty: a sample built from the test split",
    )
    cluster: str | None = Field(
        None,
        description="Dask scheduler address (tcp://HOST:8786) that runs the chunks of the stages in "
        "PARTITIONED_STAGES; where the work runs, not what it makes: no fingerprint holds it",
    )

    def run_dir(self) -> Path:
        """The run folder: run_root/run_name, named from the source and time when unset."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        name = self.run_name or f"{self.acquire.source.kind}-{stamp}"
        return self.run_root / name


def demo_config(run_root: Path = Path("data/runs"), minutes: float = 6.0) -> PipelineConfig:
    """Settings of `make demo`: the generated corpus, learned nearly perfectly in a few CPU minutes."""
    return PipelineConfig(
        run_root=run_root,
        acquire=AcquireConfig(source=GeneratedSource(sizes={"train": 20000, "valid": 500, "test": 500})),
        # BPE keeps the corpus's 1,470 word types whole (12-13 pieces a sentence against 20 for a
        # unigram model, which stops at about 1,100 pieces here).
        tokenize=TokenizeConfig(model_type="bpe", vocab_size=2000),
        train=TrainConfig(
            preset="small",
            # The alignment head learns the align stage's links, which need eflomal.
            model={"attn_dim": 128, "align_head": eflomal_installed()},
            lr=2e-3,
            batch_tokens=4000,
            max_minutes=minutes,
            max_epochs=None,
            valid_every=200,
            valid_sentences=200,
            patience=3,
        ),
        evaluate=EvaluateConfig(),
        translate=TranslateConfig(beam=5),
    )


def acquire_stage(run_dir: Path, cfg: AcquireConfig, cluster: str | None = None) -> dict[str, Any]:
    """Acquire the corpus into <run>/acquire (cleaned on the Dask `cluster` if given); record the summary."""
    summary = run_acquire(cfg, RunDir(run_dir).acquire, cluster)
    report.record(run_dir, "acquire", summary)
    return summary


def tokenize_stage(run_dir: Path, cfg: TokenizeConfig, cluster: str | None = None) -> dict[str, Any]:
    """Tokenize <run>/acquire/pairs.parquet into <run>/tokenize (encoded on the Dask `cluster` if given)."""
    run = RunDir(run_dir)
    summary = run_tokenize(run.acquire / "pairs.parquet", cfg, run.tokenize, cluster)
    report.record(run_dir, "tokenize", summary)
    return summary


def align_stage(run_dir: Path, cfg: AlignCorpusConfig) -> dict[str, Any]:
    """Align the pairs with eflomal into <run>/align, map words to pieces, and record the summary.

    With `enabled` None the stage runs when eflomal is installed and records why it did not
    otherwise; with True and no eflomal it raises AlignerMissing (naming the install command).
    """
    run = RunDir(run_dir)
    if cfg.enabled is False or (cfg.enabled is None and not eflomal_installed()):
        reason = "align.enabled is false" if cfg.enabled is False else f"eflomal is not installed: {INSTALL}"
        log.info("align stage skipped: %s", reason)
        summary: dict[str, Any] = {"skipped": reason}
    else:
        summary = run_align_corpus(run_dir, cfg)
        tokens = run.tokenize / f"{cfg.split}.parquet"
        if tokens.exists():
            tok = Tokenizer.load(run.tokenize)
            pairs, out = run.acquire / "pairs.parquet", run.align / "pieces.parquet"
            summary["pieces"] = write_piece_map(pairs, cfg.split, tokens, tok.src, tok.tgt, out)
            write_json(run.align / "summary.json", summary)
    report.record(run_dir, "align", summary)
    return summary


def train_stage(
    run_dir: Path, cfg: TrainConfig, on_validation: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Train on <run>/tokenize (guided by <run>/align's links if any) into <run>/train; record the summary."""
    run = RunDir(run_dir)
    summary = run_train(run.tokenize, cfg, run.train, on_validation, align_dir=run.align)
    report.record(run_dir, "train", summary)
    return summary


def evaluate_stage(run_dir: Path, cfg: EvaluateConfig) -> dict[str, Any]:
    """Score the run's model on its test split(s) into <run>/evaluate and record the summary."""
    summary = run_evaluate(Path(run_dir), cfg, RunDir(run_dir).evaluate)
    report.record(run_dir, "evaluate", summary)
    return summary


def translate_stage(run_dir: Path, inputs: list[Path], cfg: TranslateConfig, job_id: str) -> dict[str, Any]:
    """Translate documents with the run's model into <run>/translate/<job_id> and record the summary."""
    summary = run_translate(inputs, Path(run_dir), cfg, RunDir(run_dir).translate_job(job_id))
    report.record(run_dir, "translate", summary)
    return summary


def write_sample_documents(
    run_dir: Path, split: str = "test", documents: int = 3, paragraphs: int = 3, sentences: int = 4
) -> Path:
    """Write a few .txt documents made of `split` source sentences; return their folder."""
    run = RunDir(run_dir)
    table = pq.read_table(run.acquire / "pairs.parquet", columns=["split", "src"])
    src = table.filter(pc.equal(table["split"], split))["src"].to_pylist()
    folder = run.root / "inbox" / SAMPLE_JOB
    per_doc = paragraphs * sentences
    for d in range(documents):
        chunk = src[d * per_doc : (d + 1) * per_doc]
        if not chunk:
            break
        paras = [" ".join(chunk[p : p + sentences]) for p in range(0, len(chunk), sentences)]
        write_text(folder / f"document-{d + 1}.txt", "\n\n".join(paras) + "\n")
    return folder


# The stages that build a model, in order; each reads its settings from PipelineConfig.<name>.
BUILD_STAGES: Sequence[str] = ("acquire", "tokenize", "align", "train", "evaluate")
# The stages that take PipelineConfig.cluster: their chunks may run on a Dask cluster.
PARTITIONED_STAGES: Sequence[str] = ("acquire", "tokenize")


class StageRunner(Protocol):
    """Runs one stage of BUILD_STAGES by name into run_dir with that stage's settings (and `cluster`)."""

    def __call__(self, name: str, run_dir: Path, cfg: BaseModel, **options: Any) -> dict[str, Any]: ...


def run_stage(name: str, run_dir: Path, cfg: BaseModel, **options: Any) -> dict[str, Any]:
    """Run the stage `name` of BUILD_STAGES in this process (no Prefect); return its summary."""
    stages: dict[str, Callable[..., dict[str, Any]]] = {
        "acquire": acquire_stage,
        "tokenize": tokenize_stage,
        "align": align_stage,
        "train": train_stage,
        "evaluate": evaluate_stage,
    }
    return stages[name](run_dir, cfg, **options)


def build_model(cfg: PipelineConfig, runner: StageRunner = run_stage) -> Path:
    """Run BUILD_STAGES (acquire, tokenize, align, train, evaluate) into a new run directory; return it.

    The stages of PARTITIONED_STAGES get `cluster=cfg.cluster`.
    """
    run_dir = cfg.run_dir()
    log.info("run directory: %s", run_dir)
    for name in BUILD_STAGES:
        options = {"cluster": cfg.cluster} if name in PARTITIONED_STAGES else {}
        runner(name, run_dir, getattr(cfg, name), **options)
    return run_dir


def translation_inputs(cfg: PipelineConfig, run_dir: Path) -> list[Path]:
    """The documents the pipeline translates: cfg.documents, or a sample of the test split."""
    return cfg.documents or [write_sample_documents(run_dir)]


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Build a model (build_model), then translate documents with it; return the report."""
    run_dir = build_model(cfg)
    translate_stage(run_dir, translation_inputs(cfg, run_dir), cfg.translate, SAMPLE_JOB)
    return report.load(run_dir)
