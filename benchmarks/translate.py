"""Translation speed and memory: greedy and beam search on Multi30k test_2016_flickr.

    python benchmarks/translate.py RUN_DIR [--quick] [--device cpu] [--batch-tokens 4000]
        [--precision fp32 bf16]
    python benchmarks/translate.py RUN_DIR --memory 1000 100000 [--quick]

The speed mode loads the run's model (timed on its own), translates the German side of
test_2016_flickr with each beam size and precision (bf16: DecodeConfig.bf16, by default where the CPU
has bf16 matrix units or on a GPU) and reports sentences/s and target tokens/s (EOS not counted; best
of --repeat runs), BLEU against the English side (sacrebleu's default 13a), the batch settings and the
peak memory (each beam size and precision runs in a fresh process: its peak RSS, model load included
(loading maps the checkpoint), and its peak after loading; CUDA peak allocation on a GPU). The memory
mode runs a whole translate job (documents of 100 sentences each, drawn from the corpus and numbered so
all are distinct) in a fresh process per size and reports its peak RSS, to show that memory does not
grow with the number of documents. Results go to benchmarks/results/translate.json (merged by key, so
the two modes can be run separately).
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/translate.py` puts this folder first on sys.path, where benchmarks/tokenize.py
# would shadow the standard library's tokenize module: use the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import gzip  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import sacrebleu  # noqa: E402
import torch  # noqa: E402

from benchmarks.machine import cpu_model, peak_rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

from nmt.model.bf16_matmul import has_bf16_matrix_units  # noqa: E402
from nmt.model.search import DECODE_DEFAULTS, DecodeConfig  # noqa: E402
from nmt.translate.config import TranslateConfig  # noqa: E402
from nmt.translate.job import translate_job  # noqa: E402
from nmt.translate.translator import Translator  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "multi30k" / "test_2016_flickr.de.gz"
RESULTS = ROOT / "benchmarks" / "results" / "translate.json"
PER_DOC = 100


def read_corpus(path: Path, limit: int | None) -> list[str]:
    """The corpus lines (gzip or plain), the first `limit` of them."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    return lines[:limit] if limit else lines


def speed_child(args: argparse.Namespace) -> None:
    """Load the model (timed), then translate the corpus at one beam size and precision (best of
    --repeat runs); print the run as JSON, with this process's peak memory."""
    beam_text, precision = args.speed_child.split(":")  # "5:bf16"
    beam = int(beam_text)
    sentences = read_corpus(args.corpus, 100 if args.quick else None)
    reference = reference_path(args.corpus)
    references = read_corpus(reference, len(sentences)) if reference else None
    started = time.perf_counter()
    translator = Translator.load(args.run_dir, args.device)
    load_seconds = time.perf_counter() - started
    after_load = peak_rss_mib()
    translator.translate(sentences[:8], DecodeConfig(beam=1, batch_tokens=args.batch_tokens))  # warm-up
    cuda = translator.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = float("inf")
    bf16 = precision == "bf16"
    decode = DecodeConfig(beam=beam, batch_tokens=args.batch_tokens, alpha=args.alpha, bf16=bf16)
    for _ in range(args.repeat):  # the machine is shared: keep the best of a few runs
        started = time.perf_counter()
        results = translator.translate(sentences, decode)
        if cuda:
            torch.cuda.synchronize()
        seconds = min(seconds, time.perf_counter() - started)
    tgt_tokens = sum(len(r.tgt_ids) for r in results)
    hypotheses = [r.translation for r in results]
    run = {
        "beam": beam,
        "precision": precision,
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2) if references else None,
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(sentences) / seconds, 1),
        "tgt_tokens_per_s": round(tgt_tokens / seconds, 1),
        "src_tokens": sum(len(r.src_ids) for r in results),
        "tgt_tokens": tgt_tokens,
        "peak_rss_mb": round(peak_rss_mib(), 1),
        "peak_rss_mb_after_load": round(after_load, 1),
        "cuda_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
    }
    context = {"model_id": translator.model_id, "device": str(translator.device), "sentences": len(sentences)}
    print(json.dumps({"run": run, "model_load_seconds": round(load_seconds, 3), **context}))


def speed(args: argparse.Namespace) -> dict:
    """Model load time, then sentences/s, target tokens/s, BLEU and peak memory per beam size and precision,
    each in a fresh process (speed_child), so that each peak is that decoding's own."""
    runs, child = {}, {}
    for beam, precision in itertools.product(args.beams, args.precision):
        cmd = [sys.executable, __file__, str(args.run_dir), "--speed-child", f"{beam}:{precision}"]
        cmd += ["--device", args.device, "--batch-tokens", str(args.batch_tokens), "--alpha", str(args.alpha)]
        cmd += ["--repeat", str(args.repeat), "--corpus", str(args.corpus)]
        cmd += ["--threads", str(torch.get_num_threads()), *(["--quick"] if args.quick else [])]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        child = json.loads(done.stdout.splitlines()[-1])
        name = f"beam{beam}" + ("" if precision == "fp32" else f"_{precision}")
        runs[name] = child["run"]
        print(f"{name}: {runs[name]}", flush=True)
    reference = reference_path(args.corpus)
    return {
        "run_dir": str(args.run_dir),
        "model_id": child["model_id"],
        "corpus": str(args.corpus),
        "sentences": child["sentences"],
        "device": child["device"],
        "batch_tokens": args.batch_tokens,
        "alpha": args.alpha,
        "repeat": args.repeat,
        "model_load_seconds": child["model_load_seconds"],
        "reference": str(reference) if reference else None,
        "bf16_matrix_units": has_bf16_matrix_units(),
        "runs": runs,
    }


def reference_path(corpus: Path) -> Path | None:
    """The English side next to a German test file (test_2016_flickr.de.gz -> .en.gz), if there is one."""
    reference = corpus.with_name(corpus.name.replace(".de", ".en"))
    return reference if reference != corpus and reference.exists() else None


def memory_child(args: argparse.Namespace) -> None:
    """Translate `n` corpus sentences cut into documents as one job; print peak RSS as JSON."""
    n = args.memory_child
    pool = read_corpus(args.corpus, None)
    translator = Translator.load(args.run_dir, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        for d in range(0, n, PER_DOC):
            # Numbered, so every sentence is distinct: the job's plan holds one entry per distinct
            # sentence and nothing is shared, the worst case for memory and for speed.
            lines = [f"{pool[(d + k) % len(pool)]} ({d + k})" for k in range(min(PER_DOC, n - d))]
            paras = [" ".join(lines[p : p + 5]) for p in range(0, len(lines), 5)]
            path = folder / f"{d // 10_000:03d}" / f"doc{d // PER_DOC:06d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        before = peak_rss_mib()
        decode = DecodeConfig(
            beam=1, batch_tokens=args.batch_tokens, max_len_a=args.max_len_a, max_len_b=args.max_len_b
        )
        cfg = TranslateConfig(decode=decode, device=args.device, progress=False)
        started = time.perf_counter()
        summary = translate_job([folder], translator, cfg, Path(tmp) / "out")
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "sentences": summary["sentences"],
                "unique_sentences": summary["unique_sentences"],
                "documents": summary["documents"],
                "shards": summary["shards"],
                "seconds": round(seconds, 1),
                "sentences_per_s": round(summary["sentences"] / seconds, 1),
                "peak_rss_mb_after_load": round(before, 1),
                "peak_rss_mb": round(peak_rss_mib(), 1),
            }
        )
    )


def memory(args: argparse.Namespace) -> dict:
    """Run memory_child in a fresh process for each size."""
    out = {}
    for n in args.memory:
        cmd = [sys.executable, __file__, str(args.run_dir), "--memory-child", str(n)]
        cmd += ["--device", args.device, "--batch-tokens", str(args.batch_tokens)]
        cmd += ["--max-len-a", str(args.max_len_a), "--max-len-b", str(args.max_len_b)]
        cmd += ["--corpus", str(args.corpus), "--threads", str(torch.get_num_threads())]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
        out[str(n)] = json.loads(line)
        print(f"{n} sentences: {out[str(n)]}", flush=True)
    return {
        "run_dir": str(args.run_dir),
        "max_len_a": args.max_len_a,
        "max_len_b": args.max_len_b,
        "batch_tokens": args.batch_tokens,
        "sizes": out,
    }


def main() -> None:
    """Parse arguments, run the chosen mode, merge the result into the JSON file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="run directory with tokenize/ and train/")
    parser.add_argument("--quick", action="store_true", help="100 sentences; memory mode: 1k and 10k")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-tokens", type=int, default=DECODE_DEFAULTS.batch_tokens)
    parser.add_argument("--alpha", type=float, default=DECODE_DEFAULTS.alpha)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, DECODE_DEFAULTS.beam])
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=["fp32", "bf16"],
        default=["fp32", "bf16"] if has_bf16_matrix_units() or torch.cuda.is_available() else ["fp32"],
        help="speed mode: decode in these (bf16: DecodeConfig.bf16); default fp32, and bf16 where it pays",
    )
    parser.add_argument("--repeat", type=int, default=3, help="speed mode: best of this many runs")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--memory", type=int, nargs="*", help="sentence counts for the memory mode")
    parser.add_argument(
        "--max-len-a", type=float, default=DECODE_DEFAULTS.max_len_a, help="memory mode: output limit a*src+b"
    )
    parser.add_argument(
        "--max-len-b", type=int, default=DECODE_DEFAULTS.max_len_b, help="memory mode: output limit a*src+b"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--speed-child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, help="torch CPU threads; default: torch's choice")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return
    if args.speed_child:
        speed_child(args)
        return
    key = "memory" if args.memory is not None else "speed"
    if key == "memory" and not args.memory:
        args.memory = [1000, 10_000] if args.quick else [1000, 100_000]
    result = memory(args) if key == "memory" else speed(args)
    result.update(
        quick=args.quick,
        host=platform.node(),
        cpu=cpu_model(),
        cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
    )
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged[key + ("_quick" if args.quick else "")] = result
    if key == "speed" and not args.quick:  # the headline: sentences/s per beam, and the machine
        merged.update(
            {f"{name}_sentences_per_s": r["sentences_per_s"] for name, r in result["runs"].items()},
            cpu=result["cpu"],
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
