"""Exported models: inference-only folders to ship, which the Translator reads like a run.

    <export>/model.safetensors   the weights (safetensors: no optimizer, scheduler or RNG state)
    <export>/spm.model           the sentencepiece model (or src.model and tgt.model), as trained
    <export>/model.json          the card: format, model id, languages, model config and vocabulary
                                 sizes, tokenizer sha256, the run's test scores, the source
                                 checkpoint, and the sha256 and size of every other file

The model id is the source checkpoint's (`checkpoint_id`), so the tables a translate job writes
name the same model whether it read the run or its export; the weights are the checkpoint's
float32 tensors unchanged, so the translations are the same too. Reading checks every file
against the card's sha256. An export is written under a hidden name beside `out_dir` and renamed
into place: a reader sees no export or a whole one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights

from nmt import __version__
from nmt.core.atomic import file_sha256, read_json, write_json
from nmt.core.rundir import EXPORT_CARD, RunDir, run_languages
from nmt.model.bahdanau import Seq2Seq
from nmt.model.checkpoint import checkpoint_id, find_checkpoint, load_model

FORMAT = "nmt-export/1"
CARD = EXPORT_CARD
WEIGHTS = "model.safetensors"


def is_export(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds an exported model (model.json and model.safetensors)."""
    return (Path(folder) / CARD).is_file() and (Path(folder) / WEIGHTS).is_file()


def model_file(folder: str | os.PathLike) -> Path:
    """The file a run's or an export's model is read from: the export's weights, else find_checkpoint's."""
    return Path(folder) / WEIGHTS if is_export(folder) else find_checkpoint(folder)


def model_id_of(folder: str | os.PathLike) -> str:
    """The model id of a run or an export: its checkpoint's checkpoint_id (an export's card keeps it)."""
    if is_export(folder):
        return read_json(Path(folder) / CARD)["model_id"]
    return checkpoint_id(find_checkpoint(folder))


def export_model(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the inference-only model of a run (or a registered model) into out_dir; return its card."""
    run, out = RunDir(Path(run_dir)), Path(out_dir)
    if is_export(run.root):
        raise ValueError(f"{run.root} is an exported model already: copy the folder to ship it")
    if out.exists() and not is_export(out) and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not an exported model: choose an empty or new folder")
    ckpt = find_checkpoint(run.root)
    model, meta = load_model(ckpt)
    tokenizers = sorted(run.tokenize.glob("*.model"))
    if not tokenizers:
        raise FileNotFoundError(f"{run.tokenize}: no sentencepiece model (spm.model or src/tgt.model)")
    src_lang, tgt_lang = run_languages(run.root)
    report = read_json(run.report) if run.report.is_file() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_weights(model, str(staging / WEIGHTS), metadata={"format": FORMAT})
        for path in tokenizers:
            shutil.copyfile(path, staging / path.name)
        files = {
            p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in sorted(staging.iterdir())
        }
        card = {
            "format": FORMAT,
            "model_id": checkpoint_id(ckpt),
            "pair": f"{src_lang}-{tgt_lang}" if src_lang and tgt_lang else None,
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "model_config": meta["model_config"],
            "src_vocab": meta["src_vocab"],
            "tgt_vocab": meta["tgt_vocab"],
            "output_vocab": meta.get("output_vocab", meta["tgt_vocab"]),
            "tokenizer_sha256": meta.get("tokenizer_sha256"),
            "scores": report.get("scores", {}),
            "source": {
                "checkpoint": str(ckpt.resolve()),
                "checkpoint_sha256": file_sha256(ckpt),
                "checkpoint_bytes": ckpt.stat().st_size,
                "step": meta.get("step"),
            },
            "code_version": {"nmt": __version__},
            "files": files,
        }
        write_json(staging / CARD, card)
        _readable(staging)
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def _readable(folder: Path) -> None:
    """Give the folder and its files the umask's usual modes (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def export_bytes(folder: str | os.PathLike) -> int:
    """The size of an exported model: every file of the folder."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def load_export(
    folder: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Seq2Seq, dict[str, Any]]:
    """The model of an exported folder, its files checked against the card: (model in eval mode, card)."""
    folder = Path(folder)
    card = read_json(folder / CARD)
    if card.get("format") != FORMAT:
        raise ValueError(f"{folder / CARD}: not an {FORMAT} card (format {card.get('format')!r})")
    for name, info in card["files"].items():
        digest = file_sha256(folder / name)
        if digest != info["sha256"]:
            raise ValueError(
                f"{folder / name}: sha256 {digest[:12]}... differs from {CARD}'s {info['sha256'][:12]}...: "
                "the export is damaged or was changed; export it again"
            )
    model = Seq2Seq.described(card)
    load_weights(model, str(folder / WEIGHTS))
    return model.to(device).eval(), card
