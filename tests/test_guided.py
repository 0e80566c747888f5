"""Guided alignment: words -> pieces, the statistical links over pieces, the loss, and its effect."""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from run_fixtures import SMALL_CORPUS, SMALL_TOKENIZER

from nmt.align import aer
from nmt.align.corpus import AlignCorpusConfig
from nmt.align.guidance import GuideLinks, pharaoh_arrays
from nmt.align.pieces import word_piece_ranges
from nmt.align.words import word_spans
from nmt.core.rundir import RunDir
from nmt.core.schema import ALIGN_LINKS, ALIGN_PIECES
from nmt.evaluate.forced import AlignConfig, align_pairs
from nmt.model.guided import guide_targets, guided_alignment_loss
from nmt.pipeline import acquire_stage, align_stage, tokenize_stage
from nmt.train.config import TrainConfig
from nmt.train.run import run_train
from nmt.translate.translator import Translator


def test_words_map_to_the_pieces_that_overlap_them():
    text = "big dogs l'x"
    # Pieces as sentencepiece writes offsets: "▁big" (0,3) "▁dog" (3,8)... a "▁" piece holds the space.
    offsets = [(0, 3), (3, 7), (7, 8), (8, 11), (11, 12)]  # ▁big ▁dog s ▁l' x
    assert word_spans(text) == [(0, 3), (4, 8), (9, 10), (10, 11), (11, 12)]
    ranges = word_piece_ranges(offsets, word_spans(text))
    assert ranges.tolist() == [[0, 1], [1, 3], [3, 4], [3, 4], [4, 5]]  # l and ' share "▁l'"
    assert word_piece_ranges(offsets, []).shape == (0, 2)


def test_pharaoh_text_becomes_flat_links_with_offsets():
    links, offsets = pharaoh_arrays(pa.array(["0-0 1-2", "", "3-1"]))
    assert links.tolist() == [[0, 0], [1, 2], [3, 1]]
    assert offsets.tolist() == [0, 2, 2, 3]


def write_guide(folder, rows):
    """links.parquet and pieces.parquet of rows (id, intersection, src ranges, tgt ranges)."""
    links = [
        {"id": i, "src_words": len(s), "tgt_words": len(t), "forward": x, "reverse": x, "intersection": x,
         "grow_diag": x, "grow_diag_final_and": x}
        for i, x, s, t in rows
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(links, schema=ALIGN_LINKS), folder / "links.parquet")
    pieces = [{"id": i, "src_pieces": sum(s, []), "tgt_pieces": sum(t, [])} for i, _, s, t in rows]
    pq.write_table(pa.Table.from_pylist(pieces, schema=ALIGN_PIECES), folder / "pieces.parquet")


def test_targets_spread_each_target_piece_over_the_pieces_of_its_linked_words(tmp_path):
    # Pair 7: source words [0,1) [1,3) (pieces), target words [0,2) [2,3); links 0-0 0-1 1-0 (src-tgt).
    # Pair 3: no links. Rows stored out of id order.
    rows = [(7, "0-0 0-1 1-0", [[0, 1], [1, 3]], [[0, 2], [2, 3]]), (3, "", [[0, 1]], [[0, 1]])]
    write_guide(tmp_path, rows)
    guide = GuideLinks.read(tmp_path)
    assert guide.ids.tolist() == [3, 7]
    target = guide_targets(guide, np.array([7, 3, 99]), tgt_len=4, src_len=4)  # [B,T,S]
    first = target[0].numpy()
    # Target word 0 (pieces 0, 1) links source words 0 and 1: pieces 0, 1, 2 at 1/3 each.
    assert np.allclose(first[0], [1 / 3, 1 / 3, 1 / 3, 0]) and np.allclose(first[1], first[0])
    assert np.allclose(first[2], [1, 0, 0, 0])  # target word 1 -> source word 0
    assert np.allclose(first[3], 0)  # the EOS row, and the source EOS column, carry nothing
    assert target[1].abs().sum() == 0 and target[2].abs().sum() == 0  # no links / not aligned


def test_guided_loss_is_zero_at_the_target_positive_elsewhere_and_ignores_unlinked_rows():
    target = torch.zeros(1, 3, 4)
    target[0, 0, :2] = 0.5
    target[0, 1, 3] = 1.0  # row 2 has no links
    attn = torch.softmax(torch.randn(1, 3, 4), dim=-1)
    attn[0, 0] = torch.tensor([0.5, 0.5, 0.0, 0.0])
    attn[0, 1] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    assert guided_alignment_loss(attn, target).item() == pytest.approx(0.0, abs=1e-6)
    elsewhere = attn.clone()
    elsewhere[0, 2] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # the unlinked row changes: still zero
    assert guided_alignment_loss(elsewhere, target).item() == pytest.approx(0.0, abs=1e-6)
    off = attn.clone()
    off[0, 0] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    expected = 0.5 * np.log(0.5 / 0.7) + 0.5 * np.log(0.5 / 0.1)
    assert guided_alignment_loss(off, target).item() == pytest.approx(expected, rel=1e-5)


def attention_aer(run, weights: str = "attention") -> float:
    """AER of the run's attention (forced decoding of the test references) against the generated gold."""
    pairs = pq.read_table(RunDir(run).acquire / "pairs.parquet").to_pylist()
    test = [(p["src"].split(), p["tgt"].split()) for p in pairs if p["split"] == "test"]
    aligned = align_pairs(Translator.load(run), test, AlignConfig(weights=weights))
    gold = aer.read_talp(RunDir(run).acquire / "gold" / "test.talp")
    return aer.score([a.links for a in aligned], gold).aer


def translation_state(run) -> dict[str, torch.Tensor]:
    """The trained model's parameters, less the alignment head's."""
    state = Translator.load(run).model.state_dict()
    return {k: v for k, v in state.items() if not k.startswith("align_head.")}


@pytest.mark.slow
def test_guidance_lowers_the_attention_aer_and_the_head_aligns_without_touching_the_translation(tmp_path):
    pytest.importorskip("eflomal")
    guided, plain, head = tmp_path / "guided", tmp_path / "plain", tmp_path / "head"
    acquire_stage(guided, SMALL_CORPUS)
    tokenize_stage(guided, SMALL_TOKENIZER)
    summary = align_stage(guided, AlignCorpusConfig(aligner={"iterations": 0.3}))
    assert summary["pieces"] == {"pairs": 3000, "mismatched": 0}
    for name in ("acquire", "tokenize"):
        shutil.copytree(guided / name, plain / name)
    shutil.copytree(guided, head)
    cfg = TrainConfig(
        preset="tiny", lr=3e-3, batch_tokens=1500, max_steps=60, max_epochs=None, valid_every=60,
        guided_alignment=2.0,
        valid_sentences=20, seed=1,
    )  # fmt: skip
    with_guide = run_train(guided / "tokenize", cfg, guided / "train", align_dir=guided / "align")
    without = run_train(plain / "tokenize", cfg, plain / "train", align_dir=plain / "align")
    expected = {"weight": cfg.guided_alignment, "links": "intersection", "pairs": 3000, "align_head": False}
    assert with_guide["guided_alignment"] == expected
    assert without["guided_alignment"]["weight"] == 0.0 and "align" in without["guided_alignment"]["off"]
    plain_aer, guided_aer = attention_aer(plain), attention_aer(guided)
    assert guided_aer < plain_aer - 0.05

    # The head learns the links from the same states; the translation is the unguided run's, bit for bit.
    cfg = cfg.model_copy(update={"guided_alignment": 0.0, "model": {"align_head": True}})
    with_head = run_train(head / "tokenize", cfg, head / "train", align_dir=head / "align")
    assert with_head["guided_alignment"] == {**expected, "weight": 0.0, "align_head": True}
    assert (with_head["valid_loss"], with_head["valid_bleu"]) == (
        without["valid_loss"],
        without["valid_bleu"],
    )
    plain_state, head_state = translation_state(plain), translation_state(head)
    assert plain_state.keys() == head_state.keys()
    assert all(torch.equal(plain_state[k], head_state[k]) for k in plain_state)
    assert attention_aer(head) == plain_aer
    assert attention_aer(head, "head") < plain_aer - 0.03  # 60 steps: 0.835 against 0.894
    with pytest.raises(ValueError, match="no alignment head"):
        attention_aer(plain, "head")
