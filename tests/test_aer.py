"""AER, precision and recall, talp/Pharaoh parsing, the diagonal baseline and symmetrisation."""

import numpy as np
import pytest

from nmt.align import aer
from nmt.align.symmetrize import soft_symmetrize, symmetrize

# Sure links (0,0) (1,1); (1,2) is possible only.
GOLD = aer.parse_talp("1-1 2-2 2p3 ")


def test_parse_talp_is_one_based_with_sure_inside_possible():
    assert GOLD.sure == {(0, 0), (1, 1)}
    assert GOLD.possible == {(0, 0), (1, 1), (1, 2)}
    assert aer.parse_talp("") == aer.Gold(frozenset(), frozenset())


@pytest.mark.parametrize("bad", ["0-1", "1_2", "a-b", "3p", "1-2-3"])
def test_bad_talp_links_are_named_with_their_line(bad):
    with pytest.raises(ValueError, match=rf"gold.talp, line 2: '{bad}' is not a talp link"):
        aer.parse_talp(bad, "gold.talp, line 2")


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ({(0, 0), (1, 1)}, (0.0, 1.0, 1.0)),  # exactly the sure links
        ({(0, 0), (1, 2)}, (0.25, 1.0, 0.5)),  # one sure, one possible: 1 - (1 + 2) / (2 + 2)
        ({(0, 0), (2, 2)}, (0.5, 0.5, 0.5)),  # one sure, one wrong: 1 - (1 + 1) / (2 + 2)
        ({(0, 0), (1, 1), (1, 2)}, (0.0, 1.0, 1.0)),  # possible links cost nothing
        (set(), (1.0, 1.0, 0.0)),  # nothing predicted: precision 1 by convention, AER 1
    ],
)
def test_score_on_hand_made_examples(predicted, expected):
    s = aer.score([predicted], [GOLD])
    assert (s.aer, s.precision, s.recall) == pytest.approx(expected)


def test_score_sums_over_sentences_and_handles_empty_ones():
    empty = aer.parse_talp("")
    s = aer.score([{(0, 0)}, set(), {(5, 5)}], [GOLD, empty, empty])
    # |A&S| = 1, |A&P| = 1, |A| = 2, |S| = 2
    assert (s.aer, s.precision, s.recall, s.predicted, s.sure) == (0.5, 0.5, 0.5, 2, 2)
    nothing = aer.score([set()], [empty])
    assert (nothing.aer, nothing.precision, nothing.recall) == (0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="2 predicted alignments for 1 gold sentences"):
        aer.score([set(), set()], [empty])


def test_gold_sure_links_score_aer_zero_on_the_hansards_gold(shared_corpora):
    gold = aer.read_talp(shared_corpora / "alignments/wpt2003-hansards-enfr/enfr.talp")
    s = aer.score([set(g.sure) for g in gold], gold)
    assert len(gold) == 179 and s.sure > 1000
    assert (s.aer, s.precision, s.recall) == (0.0, 1.0, 1.0)


def test_pharaoh_round_trip_and_errors(tmp_path):
    path = tmp_path / "links.txt"
    path.write_text("0-0 1-2\n\n3-1\n")
    assert aer.read_pharaoh(path) == [{(0, 0), (1, 2)}, set(), {(3, 1)}]
    path.write_text("0-0\n1:2\n")
    with pytest.raises(ValueError, match=r"links.txt, line 2: '1:2' is not a Pharaoh link"):
        aer.read_pharaoh(path)


def test_diagonal_baseline():
    assert aer.diagonal(3, 3) == {(0, 0), (1, 1), (2, 2)}
    assert aer.diagonal(4, 2) == {(1, 0), (3, 1)}
    assert aer.diagonal(2, 4) == {(0, 0), (0, 1), (1, 2), (1, 3)}
    assert aer.diagonal(0, 3) == set()


def test_symmetrisation_heuristics():
    forward = {(0, 0), (1, 1), (0, 1)}
    backward = {(0, 0), (1, 1), (3, 3)}
    assert symmetrize(forward, backward, "intersection") == {(0, 0), (1, 1)}
    assert symmetrize(forward, backward, "union") == forward | backward
    # (0, 1) joins two words already aligned: not added; (3, 3) aligns two unaligned words: added
    assert symmetrize(forward, backward, "grow-diag-final") == {(0, 0), (1, 1), (3, 3)}
    # growing: (2, 1) neighbours (1, 1) and its source word is unaligned; then (2, 2) diagonally
    grown = symmetrize({(0, 0), (1, 1), (2, 1)}, {(0, 0), (1, 1), (2, 2)}, "grow-diag-final")
    assert grown == {(0, 0), (1, 1), (2, 1), (2, 2)}
    # grow-diag stops before the final step; final-and adds (3, 3) (both words unaligned), not (0, 1)
    assert symmetrize(forward, backward, "grow-diag") == {(0, 0), (1, 1)}
    assert symmetrize(forward, backward, "grow-diag-final-and") == {(0, 0), (1, 1), (3, 3)}
    # (2, 0): source word 2 is unaligned but target word 0 is not: final adds it, final-and does not
    assert symmetrize({(0, 0), (2, 0)}, {(0, 0)}, "grow-diag-final") == {(0, 0), (2, 0)}
    assert symmetrize({(0, 0), (2, 0)}, {(0, 0)}, "grow-diag-final-and") == {(0, 0)}
    with pytest.raises(ValueError, match="unknown symmetrisation 'both'"):
        symmetrize(forward, backward, "both")


def test_soft_symmetrisation_combines_attention_before_links():
    forward = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])  # [tgt 3, src 2]
    backward = np.array([[0.9, 0.0, 0.1], [0.2, 0.2, 0.6]])  # [src 2, tgt 3]
    np.testing.assert_allclose(soft_symmetrize(forward, backward), [[0.85, 0.2], [0.25, 0.35], [0.1, 0.75]])
    geometric = soft_symmetrize(forward, backward, "geometric")
    np.testing.assert_allclose(geometric, np.sqrt([[0.72, 0.04], [0.0, 0.1], [0.01, 0.54]]))
    with pytest.raises(ValueError, match="not transposes"):
        soft_symmetrize(forward, forward)
    with pytest.raises(ValueError, match="unknown soft symmetrisation 'max'"):
        soft_symmetrize(forward, backward, "max")


def test_score_files_lists_baseline_directions_and_symmetrisations(tmp_path):
    (tmp_path / "pairs").write_text("a b ||| x y\nc ||| z\n")
    (tmp_path / "gold").write_text("1-1 2-2\n1-1\n")
    (tmp_path / "fwd").write_text("0-0 1-1\n0-0\n")
    (tmp_path / "bwd").write_text("0-0 0-1\n0-0\n")
    rows = aer.score_files(tmp_path / "gold", tmp_path / "pairs", tmp_path / "fwd", tmp_path / "bwd")
    by_name = {r["aligner"]: r for r in rows}
    symmetrised = ["intersection", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and"]
    assert list(by_name) == ["diagonal", "forward", "backward", *symmetrised]
    assert by_name["diagonal"]["aer"] == 0.0 and by_name["forward"]["aer"] == 0.0
    assert by_name["backward"]["aer"] == pytest.approx(1 - 4 / 6)
    assert by_name["intersection"]["recall"] == pytest.approx(2 / 3)
