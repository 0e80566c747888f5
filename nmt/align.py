"""Forced alignment: word links of given sentence pairs from the model's attention.

Input: one pair per line, `source ||| target`, both already tokenized into words separated by
spaces. Each word is encoded into pieces on its own, so the piece -> word map is exact. The
model reads the source and is fed the target (teacher forcing, `Seq2Seq.forward`); every
target piece is linked to the source piece it attends to most (EOS excluded, nmt.links) and
the links are merged to words. Output: one line per input line, Pharaoh `i-j` (0-based,
source-target); a line that is not a pair gets an empty line and is counted in `errors`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from nmt.atomic import write_text
from nmt.links import hard_links, pharaoh
from nmt.translate import Translator, token_batches
from nmt.vocab import BOS, EOS, PAD

log = logging.getLogger(__name__)


def run_align(model_dir: Path, pairs: Path, out: Path, device: str = "cpu", batch_tokens: int = 4000) -> dict:
    """Force-decode the `source ||| target` lines of `pairs` and write word links to `out`."""
    started = time.perf_counter()
    translator = Translator.load(Path(model_dir), device)
    lines = Path(pairs).read_text(encoding="utf-8").splitlines()
    links, errors = align_lines(translator, lines, batch_tokens)
    write_text(out, "".join(x + "\n" for x in links))
    seconds = time.perf_counter() - started
    log.info("align: %d pairs (%d errors) in %.1f s -> %s", len(lines), errors, seconds, out)
    return {
        "pairs": len(lines),
        "errors": errors,
        "model_id": translator.model_id,
        "out": str(out),
        "seconds": round(seconds, 3),
    }


def align_lines(translator: Translator, lines: list[str], batch_tokens: int = 4000) -> tuple[list[str], int]:
    """Word links (Pharaoh text) of `source ||| target` lines and the number of lines that are not pairs."""
    tok = translator.tokenizer
    pairs, bad = [], 0
    for line in lines:
        src, sep, tgt = line.partition("|||")
        if not sep or not src.split() or not tgt.split():
            pairs.append(None)
            bad += 1
            continue
        pairs.append((src.split(), tgt.split()))
    good = [k for k, p in enumerate(pairs) if p is not None]
    src_words = tok.encode_src([w for k in good for w in pairs[k][0]])
    tgt_words = tok.encode_tgt([w for k in good for w in pairs[k][1]])
    encoded = {}
    s_pos = t_pos = 0
    for k in good:
        n_src, n_tgt = len(pairs[k][0]), len(pairs[k][1])
        encoded[k] = (_flatten(src_words[s_pos : s_pos + n_src]), _flatten(tgt_words[t_pos : t_pos + n_tgt]))
        s_pos, t_pos = s_pos + n_src, t_pos + n_tgt
    out = [""] * len(lines)
    sizes = [max(len(encoded[k][0][0]), len(encoded[k][1][0])) + 1 for k in good]
    for batch in token_batches(sizes, batch_tokens):
        rows = [good[i] for i in batch]
        for k, links in zip(rows, _force(translator, [encoded[k] for k in rows]), strict=True):
            out[k] = links
    return out, bad


def _flatten(words: list[list[int]]) -> tuple[list[int], list[int]]:
    """Pieces of a sentence and the word of each piece."""
    ids, word_of = [], []
    for w, pieces in enumerate(words):
        ids += pieces
        word_of += [w] * len(pieces)
    return ids, word_of


@torch.inference_mode()
def _force(translator: Translator, items: list) -> list[str]:
    """Word links of encoded pairs ((src ids, src word of piece), (tgt ids, tgt word of piece))."""
    device = translator.device
    batch = len(items)
    src_len = torch.tensor([len(s[0]) + 1 for s, _ in items])  # [B] with EOS
    tgt_len = torch.tensor([len(t[0]) + 1 for _, t in items])  # [B] with EOS step
    src = torch.full((batch, int(src_len.max())), PAD, dtype=torch.long)  # [B,S]
    tgt_in = torch.full((batch, int(tgt_len.max())), PAD, dtype=torch.long)  # [B,T]
    for b, ((s, _), (t, _)) in enumerate(items):
        src[b, : len(s) + 1] = torch.tensor([*s, EOS])
        tgt_in[b, : len(t) + 1] = torch.tensor([BOS, *t])
    _, attn = translator.model(src.to(device), src_len.to(device), tgt_in.to(device))  # [B,T,S]
    attn = attn.float().cpu().numpy()
    out = []
    for b, ((_, src_word), (_, tgt_word)) in enumerate(items):
        pieces = hard_links(attn[b, : int(tgt_len[b]), : int(src_len[b])])
        out.append(pharaoh(sorted({(src_word[i], tgt_word[j]) for i, j in pieces})))
    return out
