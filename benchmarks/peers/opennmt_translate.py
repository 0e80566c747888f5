"""Decode Multi30k test_2016_flickr with an OpenNMT-py checkpoint: benchmarks/translate.py's peer.

    .venv/bin/python benchmarks/peers/opennmt_translate.py MODEL.pt [--venv data/bench/opennmt-py]

The German side is cut into pieces by the bench fixture's sentencepiece model (the pieces the peer was
trained on, benchmarks/train.py), `onmt_translate` decodes them at beam 1 and 5 (batch 64 sentences,
all cores, CPU), and the pieces are joined back and scored with sacrebleu against the English side.
Speed is sentences over onmt_translate's own "Total translation time" (model loading excluded, as in
benchmarks/translate.py), best of --repeat runs. Results merge into benchmarks/results/translate.json
under "opennmt_same_session": compare with the rows benchmarks/translate.py writes in the same session.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import sacrebleu
import sentencepiece as spm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_model  # noqa: E402
from nmt.core.cores import usable_cores  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "multi30k"
SPM = ROOT / "data" / "bench" / "multi30k-de-en" / "tokenize" / "spm.model"
RESULTS = ROOT / "benchmarks" / "results" / "translate.json"
TOTAL = re.compile(r"Total translation time \(s\): (?P<seconds>[\d.]+)")


def lines(name: str) -> list[str]:
    """One Multi30k file's lines."""
    return gzip.decompress((CORPUS / name).read_bytes()).decode("utf-8").splitlines()


def decode(venv: Path, model: Path, src: Path, beam: int, out: Path) -> float:
    """Run onmt_translate once; its reported translation seconds."""
    cmd = [str(venv / "bin" / "onmt_translate"), "-model", str(model), "-src", str(src), "-output", str(out)]
    cmd += ["-beam_size", str(beam), "-batch_size", "64", "-batch_type", "sents", "-report_time"]
    env = {**os.environ, "OMP_NUM_THREADS": str(usable_cores()), "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    match = TOTAL.search(done.stdout + done.stderr)
    if match is None:
        raise RuntimeError(f"no translation time in onmt_translate's output: {' '.join(cmd)}")
    return float(match["seconds"])


def main() -> None:
    """Decode at beam 1 and 5, print and merge the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an OpenNMT-py checkpoint trained on the bench fixture")
    parser.add_argument("--venv", type=Path, default=ROOT / "data" / "bench" / "opennmt-py")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sp = spm.SentencePieceProcessor(model_file=str(SPM))
    source, reference = lines("test_2016_flickr.de.gz"), lines("test_2016_flickr.en.gz")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "test.de.sp"
        src.write_text("".join(" ".join(p) + "\n" for p in sp.encode(source, out_type=str)), encoding="utf-8")
        for beam in (1, 5):
            out = Path(tmp) / f"beam{beam}.sp"
            seconds = min(decode(args.venv, args.model, src, beam, out) for _ in range(args.repeat))
            hypotheses = [sp.decode(line.split()) for line in out.read_text(encoding="utf-8").splitlines()]
            runs[f"beam{beam}"] = {
                "beam": beam,
                "seconds": seconds,
                "sentences_per_s": round(len(source) / seconds, 1),
                "bleu": round(sacrebleu.corpus_bleu(hypotheses, [reference]).score, 2),
            }
            print(f"beam {beam}: {runs[f'beam{beam}']}", flush=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["opennmt_same_session"] = {
        "model": str(args.model),
        "settings": "onmt_translate -batch_size 64 -batch_type sents, CPU, OMP threads = usable cores",
        "threads": usable_cores(),
        "cpu": cpu_model(),
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
