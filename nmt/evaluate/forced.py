"""Forced alignment: word links of given sentence pairs read off the model's attention.

Input: one pair per line, `source ||| target`, both already tokenized into words separated by
spaces. `surface` chooses what the model reads: "tokens" encodes each word into pieces on its
own (the piece -> word map is trivially exact, but the model is fed `Speaker ,` or `de le`, text
it never saw in training); "detokenized" rebuilds the raw sentence from the words in the side's
language (nmt.text.surface: punctuation attached, French contractions and elisions re-joined, first
letter capitalised), encodes it whole and maps each piece to the words it overlaps. The
languages are the model's (`run_languages`: the acquire manifest, or an export's card). The
model reads one side and is fed the other (teacher forcing, `Seq2Seq.forward`); its attention is
merged to words (nmt.align.links.word_attention: a source word sums its pieces' weights, a
target word averages its pieces' rows, a piece shared by two words counts for both) and every
target word is linked to its most attended source word, or to every source word at or above a
threshold (nmt.align.links.matrix_links).

`weights` "posterior" reads the links off p(source piece | target piece) instead of the
attention (Seq2Seq.source_posterior): the attention a_ij is the prior, scored before the target
word is known, and the readout's probability of the word actually there with the context set to
one annotation h_j is the likelihood. It costs one output layer per source position. `weights`
"head" reads the alignment head's b_ij (a model trained with model.align_head: a second attention,
scored once the target word is known and trained on the statistical links; nmt.model.bahdanau.AlignHead).

`reverse` reads the pairs with a model trained in the other direction (target -> source), so
two models' links can be symmetrised (nmt.align.symmetrize); links are always written source-target.
`shift` 1 reads the attention of the step where the target word is the decoder input instead of
the step that predicts it. Output: one line per input line, Pharaoh `i-j` (0-based); a line that
is not a pair gets an empty line and is counted in `errors`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from nmt.align import aer
from nmt.align.links import Link, matrix_links, pharaoh, word_attention
from nmt.core.atomic import write_json, write_text
from nmt.core.rundir import run_languages
from nmt.evaluate.heatmap import save_heatmap
from nmt.model.batching import length_batches, pad_sources, pad_targets
from nmt.model.search import DECODE_DEFAULTS, DecodeConfig
from nmt.text.surface import surface_pieces
from nmt.translate.translator import Translator

log = logging.getLogger(__name__)


class AlignConfig(BaseModel):
    """How attention becomes word links."""

    model_config = ConfigDict(extra="forbid")

    shift: Literal[0, 1] = Field(0, description="1: read the step where the target word is the decoder input")
    threshold: float | None = Field(
        None, gt=0.0, le=1.0, description="link every source word with at least this weight; None: argmax"
    )
    reverse: bool = Field(False, description="the model translates target -> source")
    surface: Literal["tokens", "detokenized"] = Field(
        "tokens", description="encode each word alone, or the rebuilt raw sentence (nmt.text.surface)"
    )
    weights: Literal["attention", "posterior", "head"] = Field(
        "attention",
        description="the attention, its posterior given the target word (source_posterior), or the "
        "alignment head's weights (model.align_head)",
    )


@dataclass
class WordAlignment:
    """One pair's attention merged to words and the links read off it."""

    src_words: list[str]  # the model's source side
    tgt_words: list[str]  # the model's target side
    attention: np.ndarray  # float32 [len(tgt_words), len(src_words)]
    links: set[Link]  # (source, target) of the input line, whichever side the model read
    reverse: bool = False  # the model read the input line's target side

    def heatmap(self, path: Path, title: str, links: set[Link] | None = None) -> Path:
        """Write the attention as a PNG, outlining `links` (input line orientation; default: predicted)."""
        shown = self.links if links is None else links
        if self.reverse:
            shown = {(j, i) for i, j in shown}
        return save_heatmap(self.attention, self.src_words, self.tgt_words, path, title, shown)


def parse_pairs(lines: list[str]) -> list[tuple[list[str], list[str]] | None]:
    """Words of each `source ||| target` line; None where a line is not a pair of non-empty sides."""
    out: list[tuple[list[str], list[str]] | None] = []
    for line in lines:
        src, sep, tgt = line.partition("|||")
        out.append((src.split(), tgt.split()) if sep and src.split() and tgt.split() else None)
    return out


def align_pairs(
    translator: Translator,
    pairs: list[tuple[list[str], list[str]] | None],
    cfg: AlignConfig,
    languages: tuple[str | None, str | None] = (None, None),
    decode: DecodeConfig = DECODE_DEFAULTS,
) -> list[WordAlignment | None]:
    """Forced alignment of word pairs (None entries stay None), in input order.

    `languages`: the model's source and target languages, for the "detokenized" surface;
    `decode.batch_tokens`: the batch budget, a row's length the longer of its source and target.
    """
    tok = translator.tokenizer
    good = [k for k, p in enumerate(pairs) if p is not None]
    sides = [(pairs[k][1], pairs[k][0]) if cfg.reverse else pairs[k] for k in good]  # model src, tgt
    src_words, tgt_words = [s for s, _ in sides], [t for _, t in sides]
    if cfg.surface == "detokenized":
        src = surface_pieces(tok.src, src_words, languages[0])
        tgt = surface_pieces(tok.tgt, tgt_words, languages[1])
    else:
        src, tgt = _word_pieces(tok.encode_src, src_words), _word_pieces(tok.encode_tgt, tgt_words)
    items = list(zip(src, tgt, strict=True))
    out: list[WordAlignment | None] = [None] * len(pairs)
    sizes = [max(len(s[0]), len(t[0])) + 1 for s, t in items]
    for batch in length_batches(sizes, decode.batch_tokens):
        matrices = _force(translator, [items[i] for i in batch], cfg.shift, cfg.weights)
        for i, matrix in zip(batch, matrices, strict=True):
            links = read_links(matrix, cfg.threshold, cfg.reverse)
            out[good[i]] = WordAlignment(sides[i][0], sides[i][1], matrix, links, cfg.reverse)
    return out


def read_links(matrix: np.ndarray, threshold: float | None, reverse: bool) -> set[Link]:
    """Links (source, target) of the input line from a [model tgt, model src] matrix (argmax or threshold)."""
    links = set(matrix_links(matrix, threshold))  # (model src, model tgt)
    return {(j, i) for i, j in links} if reverse else links


def _word_pieces(encode, sentences: list[list[str]]) -> list[tuple[list[int], list[int]]]:
    """Piece ids of each sentence, every word encoded on its own, and the word of each piece."""
    encoded = iter(encode([w for words in sentences for w in words]))
    out = []
    for words in sentences:
        ids, word_of = [], []
        for w in range(len(words)):
            pieces = next(encoded)
            ids += pieces
            word_of += [w] * len(pieces)
        out.append((ids, word_of))
    return out


@torch.inference_mode()
def _force(translator: Translator, items: list, shift: int, weights: str) -> list[np.ndarray]:
    """Word-level weights [tgt words, src words] of encoded pairs ((src ids, words of piece), (tgt ...))."""
    device = translator.device
    src, src_len = pad_sources([s for (s, _), _ in items])  # [B,S], [B] with EOS
    tgt_in, tgt_out = pad_targets([t for _, (t, _) in items])  # [B,T] BOS + pieces, pieces + EOS
    tgt_len = [len(t) + 1 for _, (t, _) in items]  # [B] with the EOS step
    model = translator.model
    forced = model.teacher_force(src.to(device), src_len.to(device), tgt_in.to(device))
    if weights == "posterior":
        attn = model.source_posterior(forced, tgt_out.to(device))  # [B,T,S]
    elif weights == "head":
        attn = model.head_weights(forced, src.to(device), tgt_out.to(device))  # [B,T,S]
    else:
        attn = forced.attns  # [B,T,S]
    attn = attn.float().cpu().numpy()  # [B,T,S]
    return [
        word_attention(attn[b, : tgt_len[b], : int(src_len[b])], src_word, tgt_word, shift)
        for b, ((_, src_word), (_, tgt_word)) in enumerate(items)
    ]


def run_align(
    model_dir: Path,
    pairs: Path,
    out: Path,
    cfg: AlignConfig | None = None,
    device: str = "cpu",
    gold: Path | None = None,
    heatmaps: Path | None = None,
    worst: int = 5,
    decode: DecodeConfig = DECODE_DEFAULTS,
) -> dict:
    """Force-align the `source ||| target` lines of `pairs` into Pharaoh links at `out`; score against `gold`.

    With `heatmaps`, the attention of the `worst` sentences (by AER against the gold, else the
    first ones) is drawn there as PNGs with the gold sure links outlined.
    """
    cfg = cfg or AlignConfig()
    started = time.perf_counter()
    translator = Translator.load(Path(model_dir), device)
    lines = Path(pairs).read_text(encoding="utf-8").splitlines()
    aligned = align_pairs(translator, parse_pairs(lines), cfg, run_languages(model_dir), decode)
    predicted = [a.links if a else set() for a in aligned]
    write_text(out, "".join(pharaoh(x) + "\n" for x in predicted))
    summary = {
        "pairs": len(lines),
        "errors": sum(a is None for a in aligned),
        "model_id": translator.model_id,
        "config": cfg.model_dump(),
        "out": str(out),
    }
    gold_links = aer.read_talp(gold) if gold else None
    if gold_links is not None:
        summary["gold"] = str(gold)
        summary["scores"] = aer.score(predicted, gold_links).as_dict()
    if heatmaps is not None:
        summary["heatmaps"] = [str(p) for p in draw_worst(aligned, gold_links, Path(heatmaps), worst)]
    summary["seconds"] = round(time.perf_counter() - started, 3)
    write_json(Path(out).with_suffix(".json"), summary)
    log.info(
        "align: %d pairs (%d errors) in %.1f s -> %s", len(lines), summary["errors"], summary["seconds"], out
    )
    return summary


def draw_worst(
    aligned: list[WordAlignment | None], gold: list[aer.Gold] | None, out_dir: Path, count: int
) -> list[Path]:
    """Heatmaps of the `count` worst-aligned sentences by AER, gold sure links outlined (without a gold:
    the first sentences, predicted links outlined)."""
    found = [k for k, a in enumerate(aligned) if a is not None]
    if gold is not None:
        found.sort(key=lambda k: -aer.sentence_aer(aligned[k].links, gold[k]))
    paths = []
    for k in found[:count]:
        a = aligned[k]
        if gold is None:
            paths.append(
                a.heatmap(out_dir / f"line-{k + 1:05d}.png", f"line {k + 1}, predicted links outlined")
            )
            continue
        label = f"line {k + 1}, AER {aer.sentence_aer(a.links, gold[k]):.2f}, gold sure links outlined"
        paths.append(a.heatmap(out_dir / f"line-{k + 1:05d}.png", label, gold[k].sure))
    return paths
