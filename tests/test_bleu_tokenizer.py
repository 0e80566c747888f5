"""BLEU is tokenized for the target language (nmt.text.bleu_tokenizer) and the signature says how."""

import importlib.util
import logging

import pytest

from nmt.evaluate.scores import score
from nmt.text import bleu_tokenizer as bt

HYPS = ["我们今天去北京。", "他喜欢喝茶。"]
REFS = ["我们明天去北京。", "他喜欢喝咖啡。"]


@pytest.fixture(autouse=True)
def _fresh_choice():
    bt.bleu_tokenizer.cache_clear()
    yield
    bt.bleu_tokenizer.cache_clear()


def test_a_chinese_target_is_scored_with_the_zh_tokenizer():
    zh, default = score(HYPS, REFS, "zh"), score(HYPS, REFS)
    assert "|tok:zh|" in zh["bleu_signature"]
    assert "|tok:13a|" in default["bleu_signature"]
    assert default["bleu"] == 0.0  # 13a sees each sentence as one or two "words": nothing matches
    assert zh["bleu"] == 53.27  # character n-grams: most match
    assert zh["chrf"] == default["chrf"]  # chrF reads characters whatever the language


@pytest.mark.parametrize(
    ("lang", "expected"), [("zh-Hans", "zh"), ("en", "13a"), ("de", "13a"), (None, "13a")]
)
def test_tokenizer_by_language(lang, expected):
    assert bt.bleu_tokenizer(lang) == expected


@pytest.mark.parametrize(
    ("lang", "mecab", "fallback"), [("ja", "ja-mecab", "char"), ("ko", "ko-mecab", "13a")]
)
def test_mecab_where_installed_else_a_fallback_and_a_warning(monkeypatch, caplog, lang, mecab, fallback):
    installed = all(importlib.util.find_spec(m) for m in bt._MECAB[lang][1])
    if installed:
        assert bt.bleu_tokenizer(lang) == mecab
        assert f"|tok:{mecab}-" in score(["a"], ["a"], lang)["bleu_signature"]
        bt.bleu_tokenizer.cache_clear()
    monkeypatch.setattr(bt.importlib.util, "find_spec", lambda name: None)
    with caplog.at_level(logging.WARNING, logger=bt.__name__):
        assert bt.bleu_tokenizer(lang) == fallback
    assert f"{mecab} needs" in caplog.text and "nmt-bahdanau[cjk]" in caplog.text
