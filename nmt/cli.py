"""The `nmt` command: every stage without Prefect, plus batch file translation."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from nmt import pipeline, report
from nmt.acquire import AcquireConfig, CatalogueSource, DirectorySource, GeneratedSource
from nmt.align import run_align
from nmt.evaluate import EvaluateConfig
from nmt.rundir import RunDir
from nmt.tokenization import TokenizeConfig
from nmt.train import TrainConfig
from nmt.translate import TranslateConfig, run_translate

app = typer.Typer(
    help="Batch neural machine translation with the Bahdanau (2014) attention model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

RunOption = Annotated[Path, typer.Option("--run", help="run directory (see README: where outputs land)")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Log progress lines to stderr."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _print(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def run(
    config: Annotated[Path | None, typer.Option(help="JSON file of a PipelineConfig")] = None,
    demo: Annotated[bool, typer.Option(help="the demo settings on the generated corpus")] = False,
    run_root: Annotated[Path | None, typer.Option(help="folder of run folders")] = None,
    run_name: Annotated[str | None, typer.Option(help="run folder name")] = None,
) -> None:
    """Run the whole pipeline (acquire, tokenize, train, evaluate, translate) without Prefect."""
    cfg = pipeline.demo_config() if demo else pipeline.PipelineConfig()
    if config is not None:
        cfg = pipeline.PipelineConfig.model_validate_json(config.read_text(encoding="utf-8"))
    updates = {k: v for k, v in {"run_root": run_root, "run_name": run_name}.items() if v}
    cfg = cfg.model_copy(update=updates)
    result = pipeline.run_pipeline(cfg)
    typer.echo(report.to_text(result))


@app.command()
def acquire(
    out: Annotated[Path, typer.Option(help="run directory to create or update")],
    corpus: Annotated[
        str | None, typer.Option(help="generated, or a catalogue corpus: multi30k, tatoeba")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="a folder / base URL of <split>.<lang>[.gz] files")
    ] = None,
    src: Annotated[str | None, typer.Option(help="source language code")] = None,
    tgt: Annotated[str | None, typer.Option(help="target language code")] = None,
    mirror: Annotated[
        str | None, typer.Option(help="folder or base URL laid out <corpus>/<file>; or $NMT_MIRROR")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the generated corpus")] = 1,
) -> None:
    """Fetch, read and clean a parallel corpus into <out>/acquire."""
    if corpus in (None, "generated") and source is None:
        chosen = GeneratedSource(seed=seed)
    elif not (src and tgt):
        raise typer.BadParameter("--src and --tgt are required for --corpus NAME and --source")
    elif corpus is not None:
        chosen = CatalogueSource(corpus=corpus, src_lang=src, tgt_lang=tgt)
    else:
        chosen = DirectorySource(location=source, src_lang=src, tgt_lang=tgt)
    _print(pipeline.acquire_stage(out, AcquireConfig(source=chosen, mirror=mirror)))


@app.command()
def tokenize(
    run_dir: RunOption,
    vocab_size: Annotated[int, typer.Option(help="sentencepiece pieces (a soft limit)")] = 8000,
    model_type: Annotated[str, typer.Option(help="unigram or bpe")] = "unigram",
    joint: Annotated[bool, typer.Option(help="one model for both languages")] = True,
) -> None:
    """Train sentencepiece on <run>/acquire and write token shards into <run>/tokenize."""
    cfg = TokenizeConfig(vocab_size=vocab_size, model_type=model_type, joint=joint)
    _print(pipeline.tokenize_stage(run_dir, cfg))


@app.command()
def train(
    run_dir: RunOption,
    preset: Annotated[str, typer.Option(help="tiny, small, base or paper")] = "base",
    max_minutes: Annotated[float | None, typer.Option(help="time budget")] = None,
    max_steps: Annotated[int | None, typer.Option()] = None,
    max_epochs: Annotated[int | None, typer.Option()] = 10,
    batch_tokens: Annotated[int, typer.Option(help="padded tokens per batch")] = 4096,
    device: Device = "auto",
    config: Annotated[Path | None, typer.Option(help="JSON TrainConfig; overrides the rest")] = None,
) -> None:
    """Train the model on <run>/tokenize into <run>/train, resuming from the last checkpoint."""
    if config is not None:
        cfg = TrainConfig.model_validate_json(config.read_text(encoding="utf-8"))
    else:
        cfg = TrainConfig(
            preset=preset,
            max_minutes=max_minutes,
            max_steps=max_steps,
            max_epochs=max_epochs,
            batch_tokens=batch_tokens,
            device=device,
        )
    _print(pipeline.train_stage(run_dir, cfg))


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="run directory of the model")],
    test_set: Annotated[list[str] | None, typer.Option(help="split(s) of the pairs table")] = None,
    beam: Annotated[int, typer.Option(help="beam size; 1 is greedy")] = 5,
    device: Device = "auto",
) -> None:
    """Score the model on its test split(s) with sacrebleu BLEU and chrF."""
    cfg = EvaluateConfig(splits=test_set or ["test"], beam=beam, device=device)
    _print(pipeline.evaluate_stage(model, cfg))


@app.command()
def translate(
    inputs: Annotated[list[Path], typer.Argument(help="files or folders of documents")],
    model: Annotated[Path, typer.Option(help="run directory of the model")],
    out: Annotated[Path, typer.Option(help="output folder")],
    beam: Annotated[int, typer.Option(help="beam size; 1 is greedy")] = 5,
    batch_tokens: Annotated[int, typer.Option(help="source tokens per batch")] = 4000,
    device: Device = "auto",
) -> None:
    """Translate documents into <out>: translated files plus translation and alignment tables."""
    cfg = TranslateConfig(beam=beam, batch_tokens=batch_tokens, device=device)
    _print(run_translate(inputs, model, cfg, out))


@app.command()
def align(
    model: Annotated[Path, typer.Option(help="run directory of the model")],
    pairs: Annotated[Path, typer.Option(help="'source ||| target' per line, tokenized")],
    out: Annotated[Path, typer.Option(help="output file of Pharaoh i-j links, one line per pair")],
    device: Device = "auto",
) -> None:
    """Force-decode given pairs and write word alignments read off the attention."""
    _print(run_align(model, pairs, out, device=device))


@app.command()
def show(run_dir: Annotated[Path, typer.Argument(help="run directory")]) -> None:
    """Print the summary of a run from its report.json."""
    if not RunDir(run_dir).report.exists():
        raise typer.BadParameter(f"{RunDir(run_dir).report} does not exist")
    typer.echo(report.to_text(report.load(run_dir)))
