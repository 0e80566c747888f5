"""A tiny sentencepiece model, a random tiny Seq2Seq and a run directory holding both (tests only)."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import sentencepiece as spm
import torch

from nmt.core.vocab import EOS
from nmt.model.bahdanau import Seq2Seq
from nmt.model.checkpoint import save_checkpoint
from nmt.model.config import preset
from nmt.text.tokenization import Tokenizer
from nmt.translate.translator import Translator

_WORDS = (
    "ein mann eine frau der hund die katze läuft spielt sitzt auf dem der einer wiese straße "
    "im park mit einem ball roten blauen großen kleinen kind kinder stehen vor haus"
)
WORDS = _WORDS.split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """Random capitalised sentences of the test vocabulary, ending with a full stop."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(3, 9))
        out.append(" ".join(words).capitalize() + ".")
    return out


def make_tokenizer() -> Tokenizer:
    """A joint unigram model of 330 pieces (256 bytes) with the project's special ids."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences(400)),
        model_writer=model,
        vocab_size=330,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        byte_fallback=True,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
    )
    data = model.getvalue()
    sp = spm.SentencePieceProcessor(model_proto=data)
    return Tokenizer(sp, sp, hashlib.sha256(data).hexdigest()), data


def make_model(vocab: int, seed: int = 0) -> Seq2Seq:
    """A random tiny model whose outputs are peaked and that stops at varied lengths."""
    torch.manual_seed(seed)
    model = Seq2Seq(preset("tiny"), vocab, vocab).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.4)
        model.output.weight[EOS] *= 3.0
        model.output.bias[EOS] += 2.0
    return model


def make_translator() -> Translator:
    """A Translator over the tiny tokenizer and model."""
    tokenizer, _ = make_tokenizer()
    return Translator(make_model(tokenizer.tgt_vocab_size), tokenizer, "test-model")


def make_run_dir(root: Path) -> Path:
    """A run directory with tokenize/spm.model and train/checkpoints/best.pt."""
    tokenizer, data = make_tokenizer()
    (root / "tokenize").mkdir(parents=True)
    (root / "tokenize" / "spm.model").write_bytes(data)
    model = make_model(tokenizer.tgt_vocab_size)
    meta = {
        "model_config": model.cfg.model_dump(),
        "src_vocab": model.src_vocab,
        "tgt_vocab": model.tgt_vocab,
        "tokenizer_sha256": tokenizer.sha256,
    }
    save_checkpoint(root / "train" / "checkpoints" / "best.pt", {"meta": meta, "model": model.state_dict()})
    return root
