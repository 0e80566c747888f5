"""Where each stage of a run reads and writes its files.

<run>/report.json                 every stage's summary and the test scores
<run>/acquire/pairs.parquet       PAIRS (all splits, `split` column)
<run>/acquire/rejects.parquet     REJECTS
<run>/acquire/manifest.json       sources, digests, counts per split and per reject reason
<run>/acquire/gold/<split>.talp   gold word alignments, where the corpus has them
<run>/tokenize/spm.model|.vocab   the sentencepiece model (joint source+target)
<run>/tokenize/<split>.parquet    TOKENS, one file per split
<run>/tokenize/manifest.json      settings, model sha256, length statistics
<run>/align/links.parquet         ALIGN_LINKS: the statistical aligner's links of the train pairs
<run>/align/pieces.parquet        ALIGN_PIECES: the pieces of every aligner word (guided alignment)
<run>/align/priors.txt            the aligner's priors, for aligning new pairs
<run>/train/config.json           the full training configuration
<run>/train/checkpoints/          last.pt, best.pt (full training state)
<run>/train/metrics.jsonl         one line per validation
<run>/train/summary.json          the train stage's summary
<run>/translate/<job>/            translated documents, translations/alignments/errors tables
<run>/report.md                   the same for people: corpus, curve, scores, alignment, heatmaps
<run>/evaluate/<split>.<decoding>.hyp.txt   test-set hypotheses (decoding: greedy, beam5, ...)
<run>/evaluate/metrics.parquet    METRICS: BLEU, chrF, TER per test set and decoding
<run>/evaluate/alignment/         attention read as word links, where there is a gold
<run>/evaluate/heatmaps/          attention heatmaps (PNG)
<run>/evaluate/scores.json        the evaluate stage's summary
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# The card of an exported model (nmt.model.export): config, languages, scores and file digests.
EXPORT_CARD = "model.json"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; creating it makes no folders."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    @property
    def acquire(self) -> Path:
        return self.root / "acquire"

    @property
    def tokenize(self) -> Path:
        return self.root / "tokenize"

    @property
    def align(self) -> Path:
        return self.root / "align"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def evaluate(self) -> Path:
        return self.root / "evaluate"

    def translate_job(self, job_id: str) -> Path:
        """Folder of one translation job."""
        return self.root / "translate" / job_id


def run_languages(model_dir: Path) -> tuple[str | None, str | None]:
    """The source and target languages of an export, a run or a registered model; None where unknown.

    Read from an export's card, else the run's acquire manifest, else the acquire summary of its
    report.json (all a registered model keeps).
    """
    run = RunDir(Path(model_dir))
    sources = (
        (run.root / EXPORT_CARD, ()),
        (run.acquire / "manifest.json", ()),
        (run.report, ("stages", "acquire")),
    )
    for path, keys in sources:
        if path.is_file():
            found = json.loads(path.read_text(encoding="utf-8"))
            for key in keys:
                found = found.get(key, {})
            if found.get("src_lang") or found.get("tgt_lang"):
                return found.get("src_lang"), found.get("tgt_lang")
    return None, None
