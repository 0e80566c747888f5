"""Sentence splitting by language (nmt.text.splitting), its offsets, and the language reaching it."""

import json
from pathlib import Path

import pytest

from nmt.core.rundir import run_languages
from nmt.text.documents import parse_text, render, sentences_of, split_sentences
from nmt.translate.config import TranslateConfig, with_source_lang
from nmt.translate.plan import plan_job


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        (
            "en",
            "Mr. Smith met Dr. Jones at 5 p.m. on Monday. They talked for an hour.",
            [(0, 44, "Mr. Smith met Dr. Jones at 5 p.m. on Monday."), (45, 69, "They talked for an hour.")],
        ),
        (
            "en",
            "The U.S. Army was there. It cost $3.20, i.e. little! Really?",
            [
                (0, 24, "The U.S. Army was there."),
                (25, 52, "It cost $3.20, i.e. little!"),
                (53, 60, "Really?"),
            ],
        ),
        (
            "en",
            "Wrapped line\nstays one. Next\nsentence.",
            [(0, 23, "Wrapped line\nstays one."), (24, 38, "Next\nsentence.")],
        ),
        ("en", "  Leading space. ", [(2, 16, "Leading space.")]),
        ("en-US", "Hi there. Bye.", [(0, 9, "Hi there."), (10, 14, "Bye.")]),
        (
            "de",
            "Dr. Müller kam am 3. Mai nach Hause. Er war müde.",
            [(0, 36, "Dr. Müller kam am 3. Mai nach Hause."), (37, 49, "Er war müde.")],
        ),
        (
            "de",
            "Das kostet ca. 5 Euro, d. h. nicht viel. Wir kaufen es.",
            [(0, 40, "Das kostet ca. 5 Euro, d. h. nicht viel."), (41, 55, "Wir kaufen es.")],
        ),
        (
            "de",
            "Er sagte: „Komm her!“ Dann ging sie.",
            [(0, 21, "Er sagte: „Komm her!“"), (22, 36, "Dann ging sie.")],
        ),
        (
            "fr",
            "Quoi ? Tu plaisantes ! Non.",
            [(0, 6, "Quoi ?"), (7, 22, "Tu plaisantes !"), (23, 27, "Non.")],
        ),
        (
            "fr",
            "Il a dit : « Viens ici ! » Puis il est parti.",
            [(0, 26, "Il a dit : « Viens ici ! »"), (27, 45, "Puis il est parti.")],
        ),
        (
            "zh",
            "我今天很忙。明天再说吧！你觉得怎么样？",
            [(0, 6, "我今天很忙。"), (6, 12, "明天再说吧！"), (12, 19, "你觉得怎么样？")],
        ),
        (
            "zh",
            "他说：“我们走吧。”然后他们就走了。",
            [(0, 10, "他说：“我们走吧。”"), (10, 18, "然后他们就走了。")],
        ),
        ("zh", "价格是3.5元。很便宜。", [(0, 8, "价格是3.5元。"), (8, 12, "很便宜。")]),
        ("zh_Hans", "好。好。", [(0, 2, "好。"), (2, 4, "好。")]),
        (
            "ja",
            "今日は晴れです。明日は雨でしょう！本当ですか？",
            [(0, 8, "今日は晴れです。"), (8, 17, "明日は雨でしょう！"), (17, 23, "本当ですか？")],
        ),
        ("ja", "値段は3.5ドルです。安いですね。", [(0, 11, "値段は3.5ドルです。"), (11, 17, "安いですね。")]),
    ],
)
def test_sentences_and_offsets_by_language(lang, text, expected):
    spans = split_sentences(text, lang)
    assert [(a, b, text[a:b]) for a, b in spans] == expected


def test_english_keeps_what_sentencex_takes_for_abbreviations():
    text = "They work for me. They'll kill you. OK. I agree."
    assert [text[a:b] for a, b in split_sentences(text, "en")] == [
        "They work for me.",
        "They'll kill you.",
        "OK.",
        "I agree.",
    ]


def test_chinese_paragraph_parsed_into_sentences_and_rendered_back():
    text = "我今天很忙。明天再说吧！\n\n你好。"
    parts = parse_text(text, "zh")
    assert [(s.paragraph, s.sentence, s.text, s.line) for s in sentences_of(parts)] == [
        (0, 0, "我今天很忙。", 1),
        (0, 1, "明天再说吧！", 1),
        (1, 0, "你好。", 3),
    ]
    assert (
        render(parts, {(0, 0): "I am busy.", (0, 1): "Tomorrow!", (1, 0): "Hi."})
        == "I am busy.Tomorrow!\n\nHi."
    )


def _run(tmp_path: Path, where: str, src: str) -> Path:
    run = tmp_path / "run"
    if where == "manifest":
        (run / "acquire").mkdir(parents=True)
        (run / "acquire" / "manifest.json").write_text(json.dumps({"src_lang": src, "tgt_lang": "en"}))
    else:  # a registered model keeps report.json only
        run.mkdir()
        (run / "report.json").write_text(
            json.dumps({"stages": {"acquire": {"src_lang": src, "tgt_lang": "en"}}})
        )
    return run


@pytest.mark.parametrize("where", ["manifest", "report"])
def test_the_model_source_language_fills_an_unset_config(tmp_path: Path, where):
    run = _run(tmp_path, where, "zh")
    assert run_languages(run) == ("zh", "en")
    assert with_source_lang(TranslateConfig(), run).source_lang == "zh"
    assert with_source_lang(TranslateConfig(source_lang="ja"), run).source_lang == "ja"
    assert with_source_lang(TranslateConfig(), tmp_path / "nothing").source_lang is None
    assert with_source_lang(TranslateConfig(), None).source_lang is None


def test_the_plan_splits_by_the_configured_language(tmp_path: Path):
    doc = tmp_path / "in" / "a.txt"
    doc.parent.mkdir()
    doc.write_text("Er kam am 3. Mai an. Sie wohnt in der Hauptstr. 5 in Berlin.\n", encoding="utf-8")
    counts = {
        lang: plan_job([doc], TranslateConfig(source_lang=lang, progress=False), tmp_path / lang, "f")[
            "sentences"
        ]
        for lang in ("de", "en")
    }
    assert counts == {"de": 2, "en": 4}  # German ordinals and "Hauptstr." are not sentence ends in German
