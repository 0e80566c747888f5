"""The Python API: load a model by folder, registered id or language pair; translate and align with it.

    import nmt
    model = nmt.load("data/runs/my-run")            # or an export, a model id, a pair like "de-en"
    model.translate("Ein Mann läuft.")               # a string for a string, a list for a list

`load` resolves its argument in this order: an existing folder (an exported model, else a run or a
registered model's folder); a model id in the registry; a language pair SRC-TGT, which names the
pair's current (promoted) model, else the model of that pair registered last. The registry is the
`registry` argument, else $NMT_REGISTRY, else data/registry. `export` writes the inference-only
model of anything `load` accepts (nmt.model.export) and points the registry's entries of the same
checkpoint at it.

Each text given to `translate` is a paragraph (or several, separated by blank lines): it is cut
into sentences by nmt.text.documents, the sentences of all texts are decoded together in
token-budget batches (identical ones once), and each text comes back with its translated
sentences joined by the whitespace that separated them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.core.rundir import run_languages
from nmt.evaluate.forced import AlignConfig, align_pairs
from nmt.model.export import export_bytes, export_model
from nmt.model.search import DECODE_DEFAULTS, DecodeConfig
from nmt.ops.registry import Registry
from nmt.text.documents import parse_text, render, sentences_of
from nmt.translate.config import TranslateConfig
from nmt.translate.job import translate_job
from nmt.translate.translator import Translator

log = logging.getLogger(__name__)

_PAIR = re.compile(r"[A-Za-z]{2,3}-[A-Za-z]{2,3}")
Links = list[tuple[int, int]]


def resolve_model(model: str | os.PathLike, registry: str | os.PathLike | None = None) -> Path:
    """The folder `model` names: a folder as is, a registered model id, or a pair's model (see above)."""
    path, text = Path(model), str(model)
    if path.is_dir():
        return path
    if os.sep in text or text.startswith("."):
        raise FileNotFoundError(
            f"model folder {text} does not exist: give a trained run folder (nmt train --run ...), "
            "an exported model (nmt export), a registered model id or a language pair"
        )
    reg = Registry.open(registry)
    if (reg.models / text).is_dir():
        return reg.model_dir(text)
    if _PAIR.fullmatch(text):
        return reg.model_dir(reg.model_for(text))
    raise LookupError(
        f"model {text!r} is not a folder, a model id in the registry at {reg.root} (nmt models lists them) "
        "or a language pair like de-en"
    )


def load(
    model: str | os.PathLike, device: str = "auto", registry: str | os.PathLike | None = None
) -> TranslationModel:
    """Load a run, an export, a registered model id or a pair's model on `device` (auto: CUDA if any)."""
    path = resolve_model(model, registry)
    return TranslationModel(Translator.load(path, device), path)


def export(
    model: str | os.PathLike, out_dir: str | os.PathLike, registry: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Export what `load` accepts as an inference-only folder; its files, size beside the checkpoint's."""
    card = export_model(resolve_model(model, registry), out_dir)
    registered = Registry.open(registry).record_export(out_dir, card)
    size, checkpoint = export_bytes(out_dir), card["source"]["checkpoint_bytes"]
    log.info(
        "export: %s, %.1f MB (the checkpoint: %.1f MB, %.0f%%)",
        out_dir,
        size / 1e6,
        checkpoint / 1e6,
        100 * size / checkpoint,
    )
    return {
        "out": str(out_dir),
        "model_id": card["model_id"],
        "pair": card["pair"],
        "files": {name: info["bytes"] for name, info in card["files"].items()},
        "export_bytes": size,
        "checkpoint_bytes": checkpoint,
        "size_ratio": round(size / checkpoint, 4),
        "registered": registered,
    }


class TranslationModel:
    """A loaded model: translate paragraphs or documents, align sentence pairs."""

    def __init__(self, translator: Translator, path: Path):
        self.translator = translator
        self.path = Path(path)
        self.src_lang, self.tgt_lang = run_languages(self.path)

    @property
    def model_id(self) -> str:
        return self.translator.model_id

    @property
    def device(self) -> str:
        return str(self.translator.device)

    def __repr__(self) -> str:
        pair = f"{self.src_lang}-{self.tgt_lang}"
        return f"TranslationModel({self.model_id!r}, {pair}, device={self.device!r}, path={str(self.path)!r})"

    def translate(
        self, texts: str | Sequence[str], beam: int = DECODE_DEFAULTS.beam, **decode: Any
    ) -> str | list[str]:
        """Translate a paragraph (a string) or paragraphs (a list); `decode`: other DecodeConfig fields."""
        single = isinstance(texts, str)
        paragraphs = [texts] if single else list(texts)
        for k, text in enumerate(paragraphs):
            if not isinstance(text, str):
                raise TypeError(f"texts[{k}] is {type(text).__name__}, not str")
        parsed = [parse_text(text, self.src_lang) for text in paragraphs]
        sentences = [sentences_of(parts) for parts in parsed]
        decoding = DecodeConfig(beam=beam, **decode)
        results = iter(self.translator.translate([s.text for ss in sentences for s in ss], decoding))
        out = [
            render(parts, {(s.paragraph, s.sentence): next(results).translation for s in ss})
            for parts, ss in zip(parsed, sentences, strict=True)
        ]
        return out[0] if single else out

    def translate_documents(
        self,
        inputs: str | os.PathLike | Sequence[str | os.PathLike],
        out_dir: str | os.PathLike,
        beam: int = DECODE_DEFAULTS.beam,
        **options: Any,
    ) -> dict[str, Any]:
        """Translate files or folders of documents into out_dir (the translate job); the job's summary.

        `options`: TranslateConfig fields (its decoding ones flat, as `batch_tokens=...`).
        """
        cfg = TranslateConfig(beam=beam, device=self.device, **options)
        paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
        return translate_job(paths, self.translator, cfg, Path(out_dir))

    def align(
        self, sources: str | Sequence[str], targets: str | Sequence[str], **options: Any
    ) -> Links | list[Links]:
        """Word links (source word, target word), 0-based, of sentence pairs; words are split on spaces.

        `options`: AlignConfig fields (shift, threshold, reverse, surface). One pair of strings gives
        one list of links, two lists of strings a list of them.
        """
        single = isinstance(sources, str) and isinstance(targets, str)
        if not single and (isinstance(sources, str) or isinstance(targets, str)):
            raise TypeError("give two strings or two lists of strings")
        src, tgt = ([sources], [targets]) if single else (list(sources), list(targets))
        if len(src) != len(tgt):
            raise ValueError(f"{len(src)} sources but {len(tgt)} targets")
        pairs = [(s.split(), t.split()) for s, t in zip(src, tgt, strict=True)]
        for k, (s, t) in enumerate(pairs):
            if not (s and t):
                raise ValueError(f"pair {k}: the {'source' if not s else 'target'} has no words")
        aligned = align_pairs(self.translator, pairs, AlignConfig(**options), (self.src_lang, self.tgt_lang))
        links = [sorted(a.links) for a in aligned]
        return links[0] if single else links
