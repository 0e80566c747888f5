"""The Translator: a model and its tokenizer, translating lists of sentences in token-budget batches.

Evaluate, forced alignment, retrain, the translate job and the benchmarks all decode through it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nmt.core.device import resolve_device
from nmt.core.rundir import RunDir
from nmt.model.batching import length_batches, pad_sources, pad_targets
from nmt.model.checkpoint import checkpoint_id, find_checkpoint, load_model
from nmt.model.export import WEIGHTS, is_export, load_export
from nmt.model.search import DECODE_DEFAULTS, DecodeConfig, Hypothesis, search
from nmt.text.tokenization import Tokenizer


@dataclass
class Result:
    """The translation of one sentence."""

    source: str
    translation: str
    score: float  # log-probability of the best hypothesis (EOS included)
    src_ids: list[int]  # source pieces, no EOS
    tgt_ids: list[int]  # target pieces, no EOS
    attention: np.ndarray  # float32 [len(tgt_ids)+1, len(src_ids)+1]
    nbest: list[tuple[str, float]] = field(default_factory=list)  # (translation, log-prob), best first
    head: np.ndarray | None = None  # the alignment head's weights, shaped as attention; None without one


class Translator:
    """A model and its tokenizer, translating lists of sentences in token-budget batches."""

    def __init__(self, model, tokenizer, model_id: str, device: str | torch.device = "cpu"):
        self.device = resolve_device(str(device))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.checkpoint: Path | None = None
        self.model_dir: Path | None = None  # the run or export folder, when loaded from one

    @classmethod
    def load(cls, model_dir: Path, device: str | torch.device = "cpu") -> Translator:
        """Load a run (train/checkpoints/best.pt, else last.pt, and tokenize/) or an exported model folder."""
        model_dir = Path(model_dir)
        if is_export(model_dir):
            ckpt, tokenizer_dir = model_dir / WEIGHTS, model_dir
            model, meta = load_export(model_dir, resolve_device(str(device)))
            model_id = meta["model_id"]
        else:
            ckpt, tokenizer_dir = find_checkpoint(model_dir), RunDir(model_dir).tokenize
            model, meta = load_model(ckpt, resolve_device(str(device)))
            model_id = checkpoint_id(ckpt)
        tokenizer = Tokenizer.load(tokenizer_dir)
        expected = meta.get("tokenizer_sha256")
        if expected and expected != tokenizer.sha256:
            raise ValueError(f"{ckpt} was trained with tokenizer {expected}, not {tokenizer.sha256}")
        translator = cls(model, tokenizer, model_id, device)
        translator.checkpoint = ckpt
        translator.model_dir = model_dir
        return translator

    def translate(
        self,
        sentences: list[str],
        decode: DecodeConfig = DECODE_DEFAULTS,
        progress: Callable[[int], Any] | None = None,
        known: Mapping[str, Result] | None = None,
    ) -> list[Result]:
        """Translate sentences (distinct ones once, none in `known`) in length-sorted batches; order kept."""
        counts = Counter(sentences)
        done = {s: known[s] for s in counts if s in known} if known else {}
        if progress is not None and done:
            progress(sum(counts[s] for s in done))
        unique = [s for s in counts if s not in done]
        ids = self.tokenizer.encode_src(unique)
        for batch in length_batches([len(x) + 1 for x in ids], decode.source_budget()):
            decoded = self._decode([ids[i] for i in batch], decode)
            for i, res in zip(batch, decoded, strict=True):
                res.source = unique[i]
                done[unique[i]] = res
            if progress is not None:
                progress(sum(counts[unique[i]] for i in batch))
        return [done[s] for s in sentences]

    def _decode(self, ids: list[list[int]], decode: DecodeConfig) -> list[Result]:
        src, src_len = pad_sources(ids)  # [B,S], [B] with EOS
        hyps = search(self.model, src.to(self.device), src_len.to(self.device), decode)
        texts = self.tokenizer.decode_tgt([h.tokens for nb in hyps for h in nb])
        heads = self._head_weights(src, src_len, [nb[0].tokens for nb in hyps])
        out, k = [], 0
        for x, nb, head in zip(ids, hyps, heads, strict=True):
            best: Hypothesis = nb[0]
            nbest = [(texts[k + j], h.logprob) for j, h in enumerate(nb)]
            out.append(Result("", texts[k], best.logprob, list(x), best.tokens, best.attention, nbest, head))
            k += len(nb)
        return out

    @torch.inference_mode()
    def _head_weights(self, src: torch.Tensor, src_len: torch.Tensor, outputs: list[list[int]]) -> list:
        """The alignment head's weights [T+1,S+1] of each output, from one teacher-forced pass (None
        each without a head)."""
        if self.model.align_head is None:
            return [None] * len(outputs)
        tgt_in, tgt_out = pad_targets(outputs)  # [B,T] each
        src, tgt_out = src.to(self.device), tgt_out.to(self.device)
        forced = self.model.teacher_force(src, src_len.to(self.device), tgt_in.to(self.device))
        head = self.model.head_weights(forced, src, tgt_out).float().cpu().numpy()  # [B,T,S]
        return [head[b, : len(t) + 1, : int(src_len[b])] for b, t in enumerate(outputs)]
