"""Retrain decisions (register every candidate, promote only a strictly better one) and recipes."""

import pytest
from registry_fixtures import PAIR, make_registrable_run

import nmt.ops.retrain as retrain
from nmt.evaluate.scores import EvaluateConfig
from nmt.model.checkpoint import save_checkpoint
from nmt.ops.recipes import describe, pipeline_config
from nmt.ops.registry import Registry

GREEDY = EvaluateConfig(beams=[1], device="cpu")


def test_first_candidate_is_promoted_then_only_a_strictly_better_one(tmp_path, monkeypatch):
    registry = Registry.open(tmp_path / "registry")
    first = make_registrable_run(tmp_path / "first")
    decision = retrain.consider(first, registry, GREEDY)
    assert decision["promoted"] and decision["reason"] == "first model of the pair"
    assert decision["current_scores"] is None and decision["candidate_scores"]["sentences"] == 20
    assert registry.current(PAIR) == decision["candidate"]

    again = retrain.consider(first, registry, GREEDY)  # a retry: the same checkpoint
    assert not again["promoted"] and again["candidate"] == decision["candidate"]

    second = make_registrable_run(tmp_path / "second")
    save_checkpoint(second / "train" / "checkpoints" / "best.pt", {"meta": {}, "model": {}})
    bleu = {str(first): 10.0, str(registry.model_dir(decision["candidate"])): 10.0}
    bleu[str(second)] = 10.0
    monkeypatch.setattr(
        retrain, "dev_scores", lambda model_dir, *a: {"bleu": bleu[str(model_dir)], "chrf": 0.0}
    )
    tie = retrain.consider(second, registry, GREEDY)
    assert not tie["promoted"] and "<=" in tie["reason"]
    assert registry.current(PAIR) == decision["candidate"]
    assert len(registry.cards()) == 2  # registered anyway

    third = make_registrable_run(tmp_path / "third")
    save_checkpoint(third / "train" / "checkpoints" / "best.pt", {"meta": {"n": 3}, "model": {}})
    bleu[str(third)] = 10.5
    better = retrain.consider(third, registry, GREEDY)
    assert better["promoted"] and better["current_before"] == decision["candidate"]
    assert registry.current(PAIR) == better["candidate"]
    assert registry.card(better["candidate"])["scores"]["valid"]["bleu"] == 10.5


def test_pipeline_config_from_corpus_pair_preset_and_budget(tmp_path):
    cfg = pipeline_config("multi30k", "de-en", "base", 30, tmp_path, {"tokenize": {"vocab_size": 4000}})
    assert cfg.acquire.source.kind == "catalogue" and cfg.acquire.source.src_lang == "de"
    assert cfg.train.preset == "base" and cfg.train.max_minutes == 30 and cfg.train.max_epochs is None
    assert cfg.tokenize.vocab_size == 4000 and cfg.tokenize.model_type == "unigram"
    assert cfg.run_name.startswith("multi30k-de-en-") and cfg.run_root == tmp_path
    assert describe(cfg) == "multi30k de-en base 30min"
    folder = pipeline_config(str(tmp_path / "corpus"), "fr-en", "small", 5)
    assert folder.acquire.source.kind == "directory" and folder.run_name.startswith("corpus-fr-en-")
    generated = pipeline_config(
        "generated", "en-xx", "tiny", 1, overrides={"acquire": {"source": {"seed": 3}}}
    )
    assert generated.acquire.source.seed == 3 and generated.acquire.source.sizes["train"] == 20000
    with pytest.raises(ValueError, match="generated corpus is en-xx"):
        pipeline_config("generated", "de-en", "tiny", 1)
