"""The model registry: trained runs copied under an id with a model card, one current model per pair.

    <registry>/models/<id>/card.json                 corpus, pair, tokenizer, config, scores, code version
    <registry>/models/<id>/report.json               the source run's report
    <registry>/models/<id>/tokenize/*.model          the sentencepiece model(s)
    <registry>/models/<id>/train/checkpoints/best.pt the checkpoint (hard link to the run's file if possible)
    <registry>/current/<src>-<tgt>.json              {"model_id", "promoted_at", "previous", "reason"}

A card's `export` (path, sha256 of the export's model.json, time) points at the inference-only
export of the model (nmt.model.export), recorded by `record_export` when one is made.

A model folder is laid out like a run directory, so `Translator.load(model_dir)` reads it as is.
It is assembled under a hidden name and renamed into place, and the current pointer is replaced
with os.replace: a reader sees the old model or the new one, never a half of either.
Registering the same checkpoint twice returns the first card. The root is an argument, else
$NMT_REGISTRY, else data/registry.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmt import __version__
from nmt.core.atomic import file_sha256, read_json, write_json
from nmt.core.rundir import RunDir
from nmt.model.checkpoint import find_checkpoint

DEFAULT_ROOT = Path("data/registry")
CARD = "card.json"
CHECKPOINT = Path("train/checkpoints/best.pt")


def registry_root(root: str | os.PathLike | None = None) -> Path:
    """The registry folder: `root`, else $NMT_REGISTRY, else data/registry."""
    return Path(root or os.environ.get("NMT_REGISTRY") or DEFAULT_ROOT)


def parse_pair(pair: str) -> tuple[str, str]:
    """Split "de-en" into ("de", "en")."""
    src, sep, tgt = pair.partition("-")
    if not (sep and src and tgt) or "-" in tgt:
        raise ValueError(f"language pair {pair!r} is not of the form SRC-TGT (e.g. de-en)")
    return src, tgt


def git_commit(start: Path | None = None) -> str | None:
    """The commit checked out in the repository holding this package, read from .git (no git call)."""
    git = (start or Path(__file__).resolve().parents[1]) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0]
    except OSError:
        return None
    return None


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (checkpoints are replaced, never rewritten in place), else copy it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def model_card(run_dir: Path, checkpoint_sha256: str, scores: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card of a trained run: corpus, pair, tokenizer, configuration, scores, code version."""
    run = RunDir(run_dir)
    report = read_json(run.report) if run.report.exists() else {"stages": {}}
    stages = report.get("stages", {})
    acquire, tokenize, train = (stages.get(s, {}) for s in ("acquire", "tokenize", "train"))
    if not (acquire.get("src_lang") and acquire.get("tgt_lang")):
        raise ValueError(f"{run.report}: no acquire summary with src_lang and tgt_lang; cannot tell the pair")
    config_path = run.train / "config.json"
    return {
        "pair": f"{acquire['src_lang']}-{acquire['tgt_lang']}",
        "src_lang": acquire["src_lang"],
        "tgt_lang": acquire["tgt_lang"],
        "corpus": {
            "name": acquire.get("corpus"),
            "source": acquire.get("source"),
            "counts": acquire.get("counts"),
            "fingerprint": acquire.get("fingerprint"),
        },
        "tokenizer": {
            key: tokenize.get(key)
            for key in ("tokenizer_sha256", "model_type", "joint", "src_vocab_size", "tgt_vocab_size")
        },
        "train": read_json(config_path) if config_path.exists() else None,
        "training": {
            key: train.get(key)
            for key in ("steps", "epochs", "seconds", "device", "params", "best_valid_bleu", "stopped")
        },
        "scores": {**report.get("scores", {}), **(scores or {})},
        "code_version": {"nmt": __version__, "git_commit": git_commit()},
        "checkpoint_sha256": checkpoint_sha256,
        "source_run": str(run.root.resolve()),
    }


@dataclass(frozen=True)
class Registry:
    """Registered models and the current model of each language pair, under one folder."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike | None = None) -> Registry:
        """The registry at `root`, $NMT_REGISTRY or data/registry (created on first write)."""
        return cls(registry_root(root))

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model_dir(self, model_id: str) -> Path:
        """The folder of a registered model (a run-directory layout Translator.load reads)."""
        path = self.models / model_id
        if not (path / CARD).exists():
            raise LookupError(
                f"no model {model_id!r} in the registry at {self.root}: `nmt models` lists the models"
            )
        return path

    def card(self, model_id: str) -> dict[str, Any]:
        """The model card of a registered model."""
        return read_json(self.model_dir(model_id) / CARD)

    def cards(self) -> list[dict[str, Any]]:
        """Every model card, oldest first."""
        if not self.models.is_dir():
            return []
        found = [read_json(p / CARD) for p in self.models.iterdir() if (p / CARD).exists()]
        return sorted(found, key=lambda c: (c["created_at"], c["model_id"]))

    def register(self, run_dir: str | os.PathLike, scores: dict[str, Any] | None = None) -> dict[str, Any]:
        """Copy a trained run's model into the registry under a new id; return its card.

        `scores` (for example dev-set scores) are added to the report's test scores on the card.
        A checkpoint registered before returns the existing card.
        """
        run = RunDir(Path(run_dir))
        checkpoint = find_checkpoint(run.root)
        digest = file_sha256(checkpoint)
        for card in self.cards():
            if card["checkpoint_sha256"] == digest:
                return card
        card = model_card(run.root, digest, scores)
        now = dt.datetime.now(dt.timezone.utc)
        model_id = f"{card['pair']}-{now.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
        card = {"model_id": model_id, "created_at": now.isoformat(), **card}
        self.models.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{model_id}.", dir=self.models))
        try:
            _link_or_copy(checkpoint, staging / CHECKPOINT)
            for model in sorted(run.tokenize.glob("*.model")):
                _link_or_copy(model, staging / "tokenize" / model.name)
            if run.report.exists():
                shutil.copy2(run.report, staging / "report.json")
            write_json(staging / CARD, card)
            os.rename(staging, self.models / model_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return card

    def pointer_path(self, pair: str) -> Path:
        """Where the current pointer of a language pair lives."""
        src, tgt = parse_pair(pair)
        return self.root / "current" / f"{src}-{tgt}.json"

    def current(self, pair: str) -> str | None:
        """The id of the current model of `pair`, or None."""
        path = self.pointer_path(pair)
        return read_json(path)["model_id"] if path.exists() else None

    def current_dir(self, pair: str) -> Path:
        """The folder of the current model of `pair`; LookupError when the pair has none."""
        model_id = self.current(pair)
        if model_id is None:
            raise LookupError(
                f"no current model for {pair} in the registry at {self.root}; "
                "register and promote one (nmt models register RUN_DIR; nmt models promote ID)"
            )
        return self.model_dir(model_id)

    def model_for(self, pair: str) -> str:
        """The model a pair names: its current model, else the one registered last; LookupError if none."""
        current = self.current(pair)
        if current is not None:
            return current
        src, tgt = parse_pair(pair)
        found = [c["model_id"] for c in self.cards() if c["pair"] == f"{src}-{tgt}"]
        if not found:
            raise LookupError(
                f"no model for {pair} in the registry at {self.root}: register one (nmt models register RUN)"
            )
        return found[-1]

    def record_export(self, export_dir: str | os.PathLike, card: dict[str, Any]) -> list[str]:
        """Point every model registered with the export's source checkpoint at it; their ids."""
        digest = card["source"]["checkpoint_sha256"]
        pointer = {
            "path": str(Path(export_dir).resolve()),
            "model_json_sha256": file_sha256(Path(export_dir) / "model.json"),
            "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        found = [c for c in self.cards() if c["checkpoint_sha256"] == digest]
        for registered in found:
            write_json(self.models / registered["model_id"] / CARD, {**registered, "export": pointer})
        return [c["model_id"] for c in found]

    def promote(self, model_id: str, reason: str = "") -> dict[str, Any]:
        """Make `model_id` the current model of its pair (one atomic replace); return the pointer."""
        card = self.card(model_id)
        pointer = {
            "model_id": model_id,
            "promoted_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "previous": self.current(card["pair"]),
            "reason": reason,
        }
        write_json(self.pointer_path(card["pair"]), pointer)
        return pointer

    def listing(self) -> list[dict[str, Any]]:
        """One row per model: id, pair, current or not, corpus, created, valid and test BLEU."""
        current = {}
        if (self.root / "current").is_dir():
            current = {p.stem: read_json(p)["model_id"] for p in (self.root / "current").glob("*.json")}
        rows = []
        for card in self.cards():
            scores = card.get("scores", {})
            rows.append(
                {
                    "model_id": card["model_id"],
                    "pair": card["pair"],
                    "current": current.get(card["pair"]) == card["model_id"],
                    "corpus": card["corpus"]["name"],
                    "created_at": card["created_at"],
                    "valid_bleu": scores.get("valid", {}).get("bleu"),
                    "test_bleu": scores.get("test", {}).get("bleu"),
                }
            )
        return rows
