"""The `nmt` command: every stage without Prefect, plus batch file translation.

Errors, one convention (`main` is the entry point): a user mistake (a wrong option, a file or
folder that is missing or not writable, a bad config, a busy folder) prints one line on stderr,
`error: what, which file, what to do`, and exits 2; a translation where some inputs failed
writes everything it could, prints its summary and exits 1; an unexpected error prints one line
and exits 1. Tracebacks only with `--debug`. A reader that closes stdout early (`nmt translate - |
head -1`) ends the command quietly with status 141, as SIGPIPE ends other Unix filters.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from nmt import __version__, api, pipeline, report
from nmt.align import aer
from nmt.align.corpus import AlignCorpusConfig
from nmt.align.given import run_align_given
from nmt.align.statistical import AlignerMissing, StatisticalConfig
from nmt.align.symmetrize import METHODS
from nmt.core.lock import FolderBusy
from nmt.core.rundir import RunDir
from nmt.core.streams import ready_line_batches
from nmt.data.acquire import AcquireConfig, CatalogueSource, DirectorySource, GeneratedSource
from nmt.evaluate import compare as comparison
from nmt.evaluate.forced import AlignConfig, run_align
from nmt.evaluate.scores import EvaluateConfig
from nmt.model.search import DECODE_DEFAULTS
from nmt.ops import recipes, summaries
from nmt.ops.inbox import InboxConfig, run_inbox
from nmt.ops.registry import Registry
from nmt.ops.retrain import run_retrain
from nmt.text.tokenization import TokenizeConfig
from nmt.train.config import TrainConfig
from nmt.translate.config import TranslateConfig
from nmt.translate.job import run_translate

app = typer.Typer(
    help="Batch neural machine translation with the Bahdanau (2014) attention model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

RunOption = Annotated[Path, typer.Option("--run", help="run directory (see README: where outputs land)")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")]
RegistryOption = Annotated[
    Path | None, typer.Option("--registry", help="registry folder; default $NMT_REGISTRY or data/registry")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
ModelOption = Annotated[
    str,
    typer.Option(
        help="a run folder, an exported model (nmt export), a registered model id or a pair (de-en)"
    ),
]
ClusterOption = Annotated[
    str | None, typer.Option(help="Dask scheduler address (tcp://HOST:8786) to run the chunks on")
]


USER_MISTAKES = (FolderBusy, OSError, ValueError, LookupError)  # ValidationError is a ValueError
FULL_DISK = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
SIGPIPE_STATUS = 141  # 128 + SIGPIPE: a shell's status for a filter whose reader went away
_debug = False


def main(argv: list[str] | None = None) -> None:
    """The `nmt` command: run the app; errors as one line and an exit status (tracebacks with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="nmt", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors and BadParameter: the user's, exit 2
        if _debug:
            raise
        _error(one_line(exc.format_message()))
        code = 2
    except typer.Abort:
        _error("aborted")
        code = 130
    except USER_MISTAKES as exc:
        if _debug:
            raise
        _error(explain(exc))
        code = 1 if isinstance(exc, OSError) and exc.errno in FULL_DISK else 2
    except Exception as exc:
        if _debug:
            raise
        _error(f"{type(exc).__name__}: {one_line(str(exc))} (unexpected: --debug shows the traceback)")
        code = 1
    sys.exit(code or 0)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def explain(exc: BaseException) -> str:
    """One line saying what went wrong, with which file, and what to do."""
    if isinstance(exc, ValidationError):
        problems = (
            ": ".join([".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")][not e["loc"] :])
            for e in exc.errors()
        )
        return f"{exc.title}: " + "; ".join(problems)
    if isinstance(exc, OSError) and exc.errno is not None:
        what = f"{exc.filename}: {exc.strerror.lower()}" if exc.filename else one_line(str(exc))
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"{what}: make it writable or choose another folder"
        if exc.errno in FULL_DISK:  # pyarrow's errors name no file
            return f"{what}: free some space and run again (finished work is kept)"
        if exc.filename:
            return f"{what}: check the path"
    return one_line(str(exc).strip("'\""))


def one_line(text: str) -> str:
    """`text` with its lines joined."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


def version_text() -> str:
    """`nmt VERSION`, with the git commit where the package runs from a git checkout."""
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        if done.returncode == 0:
            return f"nmt {__version__} (git {done.stdout.strip()})"
    return f"nmt {__version__}"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """Log progress lines to stderr."""
    global _debug
    _debug = debug
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
    cluster: ClusterOption = None,
) -> None:
    """Run the whole pipeline (acquire, tokenize, train, evaluate, translate) without Prefect."""
    cfg = pipeline.demo_config() if demo else pipeline.PipelineConfig()
    if config is not None:
        cfg = _config(pipeline.PipelineConfig, config)
    given = {"run_root": run_root, "run_name": run_name, "cluster": cluster}
    updates = {k: v for k, v in given.items() if v}
    cfg = cfg.model_copy(update=updates)
    try:
        result = pipeline.run_pipeline(cfg)
    except AlignerMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(report.to_text(result))


@app.command()
def acquire(
    out: Annotated[Path, typer.Option(help="run directory to create or update")],
    corpus: Annotated[
        str | None, typer.Option(help="generated, or a catalogue corpus: multi30k, tatoeba, wmt14, europarl")
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
    cluster: ClusterOption = None,
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
    _print(pipeline.acquire_stage(out, AcquireConfig(source=chosen, mirror=mirror), cluster))


@app.command()
def tokenize(
    run_dir: RunOption,
    vocab_size: Annotated[int, typer.Option(help="sentencepiece pieces (a soft limit)")] = 8000,
    model_type: Annotated[str, typer.Option(help="unigram or bpe")] = "unigram",
    joint: Annotated[bool, typer.Option(help="one model for both languages")] = True,
    cluster: ClusterOption = None,
) -> None:
    """Train sentencepiece on <run>/acquire and write token shards into <run>/tokenize."""
    cfg = TokenizeConfig(vocab_size=vocab_size, model_type=model_type, joint=joint)
    _print(pipeline.tokenize_stage(run_dir, cfg, cluster))


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
        cfg = _config(TrainConfig, config)
    else:
        cfg = TrainConfig(
            preset=preset,
            max_minutes=max_minutes,
            max_steps=max_steps,
            max_epochs=max_epochs,
            batch_tokens=batch_tokens,
            device=device,
        )
    _print(pipeline.train_stage(_run_folder(run_dir), cfg))


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="run directory of the model")],
    test_set: Annotated[
        list[str] | None, typer.Option(help="split(s) of the pairs table; default: all test*")
    ] = None,
    beam: Annotated[
        list[int] | None,
        typer.Option(help=f"beam size(s); 1 is greedy; default: 1 and {DECODE_DEFAULTS.beam}"),
    ] = None,
    metrics_table: Annotated[
        Path | None, typer.Option(help="shared Parquet metrics table to append to")
    ] = None,
    shift: Annotated[int, typer.Option(help="alignment: 1 reads the step where the word is the input")] = 0,
    device: Device = "auto",
) -> None:
    """Score the model on its test sets (BLEU, chrF, TER) and its attention against gold alignments."""
    cfg = EvaluateConfig(
        splits=test_set or None,
        beams=beam or None,
        metrics_table=metrics_table,
        align=AlignConfig(shift=shift),
        device=device,
    )
    _print(pipeline.evaluate_stage(model, cfg))


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="run directory of the baseline model")],
    candidate: Annotated[Path, typer.Argument(help="run directory of the candidate model")],
    test_set: Annotated[str, typer.Option(help="split evaluated in both runs")] = "test",
    beam: Annotated[
        int, typer.Option(help="decoding both runs were evaluated with; 1 is greedy")
    ] = DECODE_DEFAULTS.beam,
    samples: Annotated[int, typer.Option(help="bootstrap samples")] = 1000,
    approximate: Annotated[bool, typer.Option(help="paired approximate randomization instead")] = False,
) -> None:
    """Score differences of two evaluated runs with a paired significance test (sacrebleu)."""
    try:
        result = comparison.compare(baseline, candidate, test_set, beam, samples, approximate)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(comparison.to_text(result, str(baseline), str(candidate)))


@app.command()
def translate(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="files or folders of documents; -: lines from stdin, translations to stdout"),
    ],
    model: ModelOption,
    out: Annotated[Path | None, typer.Option(help="output folder (for files; - writes to stdout)")] = None,
    beam: Annotated[int, typer.Option(help="beam size; 1 is greedy")] = DECODE_DEFAULTS.beam,
    batch_tokens: Annotated[
        int,
        typer.Option(help="padded source tokens per batch, each beam counted (sentences x beam x longest)"),
    ] = DECODE_DEFAULTS.batch_tokens,
    bf16: Annotated[
        bool,
        typer.Option(help="the decoder's products in bfloat16: faster on GPUs and AMX CPUs, else slower"),
    ] = DECODE_DEFAULTS.bf16,
    device: Device = "auto",
    batch_lines: Annotated[
        int,
        typer.Option(
            min=1, help="-: at most this many lines decoded together (fewer when no more are ready)"
        ),
    ] = 1000,
    registry: RegistryOption = None,
) -> None:
    """Translate documents into <out> (translated files, translation and alignment tables), or stdin lines."""
    if "-" in map(str, inputs):
        if len(inputs) > 1 or out is not None:
            raise typer.BadParameter("- reads stdin and writes stdout: give no other input and no --out")
        decode = {"beam": beam, "batch_tokens": batch_tokens, "bf16": bf16}
        _translate_lines(api.load(model, device, registry), batch_lines, **decode)
        return
    if out is None:
        raise typer.BadParameter(
            "an output folder is needed for files (or give - to translate stdin)", param_hint="--out"
        )
    cfg = TranslateConfig(beam=beam, batch_tokens=batch_tokens, bf16=bf16, device=device)
    summary = run_translate(_inputs(inputs), api.resolve_model(model, registry), cfg, out)
    _print(summary)
    if summary["errors"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in summary["errors_by_reason"].items())
        _error(f"{summary['errors']} input(s) not translated ({reasons}): see {out / 'errors.parquet'}")
        raise typer.Exit(1)


def _translate_lines(model: api.TranslationModel, batch_lines: int, **decode) -> None:
    """Each stdin line's translation on its own stdout line, each batch written as soon as it is done."""
    stdout = sys.stdout.buffer
    try:
        for lines in ready_line_batches(sys.stdin.fileno(), batch_lines):
            for text in model.translate(lines, **decode):
                stdout.write((" ".join(text.splitlines()) + "\n").encode("utf-8"))
            stdout.flush()
    except BrokenPipeError:  # the reader closed stdout: nothing to say, and nowhere to say it
        _stdout_to_devnull()
        raise typer.Exit(SIGPIPE_STATUS) from None


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="a run folder, a registered model id or a pair (de-en)")],
    out: Annotated[Path, typer.Option(help="folder of the exported model (new, or an earlier export)")],
    registry: RegistryOption = None,
) -> None:
    """Write an inference-only model to ship: safetensors weights, sentencepiece model, model.json card."""
    _print(api.export(model, out, registry))


@app.command()
def align(
    model: Annotated[Path, typer.Option(help="run directory of the model")],
    pairs: Annotated[Path, typer.Option(help="'source ||| target' per line, tokenized")],
    out: Annotated[Path, typer.Option(help="output file of Pharaoh i-j links, one line per pair")],
    gold: Annotated[Path | None, typer.Option(help="talp gold alignments to score against")] = None,
    shift: Annotated[int, typer.Option(help="1: read the step where the target word is the input")] = 0,
    threshold: Annotated[
        float | None, typer.Option(help="link all words with this weight; default argmax")
    ] = None,
    reverse: Annotated[bool, typer.Option(help="the model translates target -> source")] = False,
    surface: Annotated[
        str, typer.Option(help="tokens: encode each word alone; detokenized: the rebuilt sentence")
    ] = "tokens",
    heatmaps: Annotated[Path | None, typer.Option(help="folder for PNGs of the worst-aligned pairs")] = None,
    worst: Annotated[int, typer.Option(help="how many heatmaps")] = 5,
    device: Device = "auto",
    method: Annotated[
        str,
        typer.Option(
            help="attention: read off the model; posterior: the attention given each target word;"
            " head: the model's alignment head (model.align_head); statistical: the run's eflomal aligner"
        ),
    ] = "attention",
    statistical_mode: Annotated[
        str, typer.Option(help="statistical: priors (the run's priors) or corpus (realign with the corpus)")
    ] = "priors",
    symmetrize: Annotated[
        str, typer.Option(help="statistical: intersection, grow-diag, grow-diag-final-and, ...")
    ] = "intersection",
) -> None:
    """Word alignments of given pairs: attention of a forced decoding, or the run's statistical aligner."""
    _choice("--method", method, ("attention", "posterior", "head", "statistical"))
    if method == "statistical":
        _choice("--statistical-mode", statistical_mode, ("priors", "corpus"))
        _choice("--symmetrize", symmetrize, METHODS)
        _print(_statistical(run_align_given, model, pairs, out, statistical_mode, symmetrize, gold))
        return
    cfg = AlignConfig(shift=shift, threshold=threshold, reverse=reverse, surface=surface, weights=method)
    _print(run_align(model, pairs, out, cfg, device=device, gold=gold, heatmaps=heatmaps, worst=worst))


def _config(model: type[BaseModel], path: Path) -> BaseModel:
    """A config read from a JSON file; a mistake in it is a one-line error naming the file."""
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise typer.BadParameter(f"{path}: {explain(exc)}", param_hint="--config") from exc


def _run_folder(run_dir: Path) -> Path:
    """`run_dir` if it is a folder, else a one-line error saying how to make one."""
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run folder {run_dir} does not exist: give --run a folder made by `nmt acquire --out`"
            " and `nmt tokenize --run`"
        )
    return run_dir


def _inputs(inputs: list[Path]) -> list[Path]:
    """The inputs, each an existing file or folder or a glob pattern, else a one-line error."""
    for path in inputs:
        if not (path.exists() or path.is_symlink() or set("*?[") & set(str(path))):
            raise FileNotFoundError(f"input {path} does not exist: check the path")
    return inputs


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """A usage error unless `value` is one of `choices`."""
    if value not in choices:
        raise typer.BadParameter(f"{option} {value!r} is not one of {', '.join(choices)}")


def _statistical(stage, *args) -> dict:
    """Run a statistical-aligner function; without eflomal, a one-line message and exit 2."""
    try:
        return stage(*args)
    except AlignerMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command("align-corpus")
def align_corpus(
    run_dir: RunOption,
    split: Annotated[str, typer.Option(help="split of the pairs table to align")] = "train",
    iterations: Annotated[float, typer.Option(help="eflomal iterations relative to its default")] = 1.0,
) -> None:
    """Align the run's pairs with eflomal both ways into <run>/align: links, priors, pieces of each word."""
    cfg = AlignCorpusConfig(enabled=True, split=split, aligner=StatisticalConfig(iterations=iterations))
    _print(_statistical(pipeline.align_stage, run_dir, cfg))


@app.command("aer")
def aer_command(
    gold: Annotated[Path, typer.Option(help="talp gold alignments")],
    pairs: Annotated[Path, typer.Option(help="'source ||| target' per line (for the diagonal baseline)")],
    links: Annotated[Path | None, typer.Option(help="Pharaoh links of a source->target model")] = None,
    backward: Annotated[Path | None, typer.Option(help="Pharaoh links of a target->source model")] = None,
) -> None:
    """AER, precision and recall of alignments, the diagonal baseline and (given both) symmetrisations."""
    rows = aer.score_files(gold, pairs, links, backward)
    typer.echo(f"{'aligner':<16} {'AER':>6} {'prec':>6} {'recall':>6} {'links':>7}")
    for r in rows:
        scores = f"{r['aer']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f}"
        typer.echo(f"{r['aligner']:<16} {scores} {r['predicted']:>7}")


@app.command()
def show(run_dir: Annotated[Path, typer.Argument(help="run directory")]) -> None:
    """Print the summary of a run from its report.json."""
    if not RunDir(run_dir).report.exists():
        raise typer.BadParameter(f"{RunDir(run_dir).report} does not exist")
    typer.echo(report.to_text(report.load(run_dir)))


models_app = typer.Typer(help="The model registry: list, register and promote models.", no_args_is_help=False)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, registry: RegistryOption = None, as_json: JsonOption = False) -> None:
    """List the registered models; * marks the current model of each pair."""
    ctx.obj = Registry.open(registry)
    if ctx.invoked_subcommand is not None:
        return
    rows = ctx.obj.listing()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no models registered in {ctx.obj.root}")
        return
    head = ("", "model", "pair", "corpus", "created", "valid BLEU", "test BLEU")
    table = [head] + [
        (
            "*" if r["current"] else "",
            r["model_id"],
            r["pair"],
            str(r["corpus"]),
            r["created_at"][:19].replace("T", " "),
            "" if r["valid_bleu"] is None else f"{r['valid_bleu']:.2f}",
            "" if r["test_bleu"] is None else f"{r['test_bleu']:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@models_app.command("register")
def models_register(ctx: typer.Context, run_dir: Annotated[Path, typer.Argument(help="trained run")]) -> None:
    """Register a trained run (copy its model under a new id with a model card); print the card."""
    _print(ctx.obj.register(run_dir))


@models_app.command("promote")
def models_promote(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="a registered model id")],
    reason: Annotated[str, typer.Option(help="why, kept in the pointer")] = "promoted by hand",
) -> None:
    """Make a registered model the current model of its language pair."""
    _print(ctx.obj.promote(model_id, reason))


@app.command()
def retrain(
    corpus: Annotated[str, typer.Option(help="generated, multi30k, tatoeba, or a folder/URL")] = "generated",
    pair: Annotated[str, typer.Option(help="SRC-TGT")] = "en-xx",
    preset: Annotated[str, typer.Option(help="tiny, small, base or paper")] = "small",
    max_minutes: Annotated[float, typer.Option(help="training time budget")] = 30.0,
    run_root: Annotated[Path, typer.Option(help="folder of run folders")] = Path("data/runs"),
    registry: RegistryOption = None,
    dev_split: Annotated[str, typer.Option(help="split both models are compared on")] = "valid",
    as_json: JsonOption = False,
) -> None:
    """Train a candidate and promote it only if it beats the pair's current model on the dev split."""
    cfg = recipes.pipeline_config(corpus, pair, preset, max_minutes, run_root)
    decision = run_retrain(cfg, Registry.open(registry), dev_split)
    typer.echo(json.dumps(decision, indent=2) if as_json else summaries.retrain_line(decision))


@app.command()
def inbox(
    folder: Annotated[Path, typer.Option("--inbox", help="inbox folder")] = Path("data/inbox"),
    pair: Annotated[str, typer.Option(help="SRC-TGT; its current model translates")] = "en-xx",
    outbox: Annotated[Path | None, typer.Option(help="default: <inbox>/../outbox")] = None,
    registry: RegistryOption = None,
    settle_seconds: Annotated[float, typer.Option(help="take files unmodified for this long")] = 30.0,
    max_files: Annotated[int | None, typer.Option(help="claim at most this many files")] = None,
    beam: Annotated[int, typer.Option(help="beam size; 1 is greedy")] = DECODE_DEFAULTS.beam,
    device: Device = "auto",
    as_json: JsonOption = False,
) -> None:
    """Translate the settled files of an inbox once each; inputs move to done/ or failed/."""
    cfg = InboxConfig.from_options(
        inbox=folder,
        outbox=outbox,
        pair=pair,
        registry=registry,
        settle_seconds=settle_seconds,
        max_files=max_files,
        beam=beam,
        device=device,
    )
    try:
        summary = run_inbox(cfg)
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pair") from exc
    typer.echo(json.dumps(summary, indent=2) if as_json else summaries.inbox_line(summary))
