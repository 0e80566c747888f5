"""Surface forms of tokenized sentences, pieces mapped back to tokens, and forced alignment on them."""

import json

import numpy as np
import pytest
from translate_fixtures import make_run_dir, make_tokenizer, make_translator

from nmt.align.links import word_attention
from nmt.evaluate.forced import AlignConfig, align_pairs, run_align, run_languages
from nmt.text.surface import Surface, is_french, piece_tokens, surface, surface_pieces


def words(line: str) -> list[str]:
    """Tokens of a tokenized line, as the gold files are read."""
    return line.split()


def spans_text(form: Surface) -> list[str]:
    """The text each token's span covers."""
    return [form.text[b:e] for b, e in form.spans]


def test_english_punctuation_attaches_like_a_detokenizer():
    tokens = words('i said , " let us go " ( now ) : it \'s 50 % part - time -- $ 5 .')
    form = surface(tokens, "en")
    assert form.text == 'I said, "let us go" (now): it\'s 50% part-time -- $5.'
    assert spans_text(form) == ["I", *tokens[1:]]
    assert form.spans[:4] == [(0, 1), (2, 6), (6, 7), (8, 9)]


def test_french_keeps_spaces_before_double_punctuation_and_inside_guillemets():
    form = surface(words("bonjour ! vraiment ? « oui » : non ; 70 % , aujourd' hui ."), "fr")
    assert form.text == "Bonjour ! vraiment ? « oui » : non ; 70%, aujourd'hui."
    assert spans_text(form)[-3:] == ["aujourd'", "hui", "."]


@pytest.mark.parametrize(
    ("tokens", "text", "shared"),
    [
        ("il parle de le chat", "Il parle du chat", (9, 11)),
        ("il parle de les chats", "Il parle des chats", (9, 12)),
        ("il va à le parc", "Il va au parc", (6, 8)),
        ("il va à les parcs", "Il va aux parcs", (6, 9)),
    ],
)
def test_french_contractions_share_one_span(tokens, text, shared):
    form = surface(tokens.split(), "fr")
    assert form.text == text
    assert form.spans[2] == form.spans[3] == shared


def test_contraction_at_the_start_keeps_the_capital():
    form = surface(["De", "le", "pain"], "fr")
    assert form.text == "Du pain" and form.spans == [(0, 2), (0, 2), (3, 7)]


def test_french_elisions_join_the_next_word():
    form = surface(words("je ai vu le homme que il aime de le hôtel"), "fr")
    assert form.text == "J'ai vu l'homme qu'il aime de l'hôtel"  # elision wins over contraction
    assert form.spans[:5] == [(0, 2), (2, 4), (5, 7), (8, 10), (10, 15)]
    form = surface(words("ce est le héros si il ne y va pas lorsque on se adresse à quelque un"), "fr")
    assert form.text == "C'est le héros s'il n'y va pas lorsqu'on s'adresse à quelqu'un"
    more = surface(words("si elle me aime , te en la armée , jusque à"), "fr")
    assert more.text == "Si elle m'aime, t'en l'armée, jusqu'à"


def test_capitalisation_and_languages_without_rules():
    assert surface(words("« oui »"), "fr").text == "« Oui »"
    assert surface(words("2 ans"), "fr").text == "2 ans"
    assert surface(words("de le"), None).text == "De le"  # no French rules without the language
    assert surface(words("i think so ?"), "en").text == "I think so?"
    assert is_french("fr") and is_french("fr-CA") and is_french("fra") and not is_french("en")
    assert not is_french(None)


def test_pieces_without_token_characters_go_with_the_next_piece():
    form = Surface("a bc", [(0, 1), (2, 4)])
    # "▁a", a lone "▁", a zero-width byte piece, "bc", then a trailing zero-width piece.
    assert piece_tokens([(0, 1), (1, 2), (2, 2), (2, 4), (4, 4)], form) == [(0,), (1,), (1,), (1,), (1,)]
    with pytest.raises(ValueError, match="got no piece"):
        piece_tokens([(0, 1)], form)


def test_a_contracted_piece_belongs_to_both_tokens_with_a_real_model():
    tokenizer, _ = make_tokenizer()
    tokens = words("il mange de le pain .")
    ((ids, owners),) = surface_pieces(tokenizer.tgt, [tokens], "fr")
    form = surface(tokens, "fr")
    assert form.text == "Il mange du pain."
    pieces = tokenizer.tgt_pieces(ids)
    assert tokenizer.decode_tgt([ids]) == [form.text]
    assert len(owners) == len(pieces)
    shared = [p for p, o in zip(pieces, owners, strict=True) if o == (2, 3)]
    assert "".join(shared).replace("▁", "") == "du"  # every piece of "du", and only those, is shared
    assert {k for o in owners for k in o} == set(range(len(tokens)))
    assert all(len(o) == 1 for o in owners if o != (2, 3))


def test_word_attention_counts_a_shared_piece_for_both_words():
    # 3 target pieces + EOS row, 3 source pieces + EOS column.
    attention = np.array(
        [[0.5, 0.2, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1], [0.0, 0.3, 0.6, 0.1], [0, 0, 0, 1.0]], dtype=np.float32
    )
    # source words: piece 1 is shared by words 0 and 1; target: piece 1 is shared by words 0 and 1.
    merged = word_attention(attention, [0, (0, 1), (1,)], [(0,), (0, 1), 1])
    np.testing.assert_allclose(merged, [[0.7, 0.6], [0.5, 0.85]], rtol=1e-6)


PAIR = (words("mr. speaker , i eat ."), words("monsieur le orateur , je mange de le pain ."))


def test_detokenized_forced_alignment_has_one_cell_per_gold_token_pair():
    translator = make_translator()
    cfg = AlignConfig(surface="detokenized")
    (forward,) = align_pairs(translator, [PAIR], cfg, ("en", "fr"))
    assert forward.attention.shape == (10, 6)  # [French tokens, English tokens]
    rows = forward.attention.sum(axis=1)  # [10] no source piece is shared: at most 1 (EOS dropped)
    assert np.all(rows > 0) and np.all(rows <= 1 + 1e-6)
    np.testing.assert_array_equal(forward.attention[6], forward.attention[7])  # "de le" read as "du"
    assert sorted(j for _, j in forward.links) == list(range(10))  # every French token linked once
    (backward,) = align_pairs(translator, [PAIR], cfg.model_copy(update={"reverse": True}), ("fr", "en"))
    assert backward.attention.shape == (6, 10)  # [English tokens, French tokens]
    np.testing.assert_array_equal(backward.attention[:, 6], backward.attention[:, 7])
    assert sorted(i for i, _ in backward.links) == list(range(6))  # links in the line's orientation
    tokens_mode = align_pairs(translator, [PAIR], AlignConfig(), ("en", "fr"))[0]
    assert not np.array_equal(tokens_mode.attention[6], tokens_mode.attention[7])


def test_run_align_reads_the_languages_of_the_run(tmp_path):
    run = make_run_dir(tmp_path / "run")
    assert run_languages(run) == (None, None)
    (run / "acquire").mkdir()
    (run / "acquire" / "manifest.json").write_text(json.dumps({"src_lang": "en", "tgt_lang": "fr"}))
    assert run_languages(run) == ("en", "fr")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(" ||| ".join(" ".join(side) for side in PAIR) + "\n")
    summary = run_align(run, pairs, tmp_path / "out.txt", AlignConfig(surface="detokenized"))
    assert summary["config"]["surface"] == "detokenized" and summary["errors"] == 0
    links = [tuple(map(int, x.split("-"))) for x in (tmp_path / "out.txt").read_text().split()]
    assert sorted(j for _, j in links) == list(range(10))
