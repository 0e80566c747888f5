"""The model registry: registration, model cards, the atomic current pointer, `nmt models`."""

import json
import os

import pytest
from registry_fixtures import PAIR, make_registrable_run
from typer.testing import CliRunner

from nmt import __version__
from nmt.cli import app
from nmt.model.checkpoint import save_checkpoint
from nmt.ops.registry import Registry, parse_pair, registry_root
from nmt.translate.translator import Translator


@pytest.fixture
def run(tmp_path):
    return make_registrable_run(tmp_path / "run")


def test_register_copies_a_loadable_model_with_its_card(tmp_path, run):
    registry = Registry.open(tmp_path / "registry")
    card = registry.register(run, scores={"valid": {"bleu": 1.5}})
    assert card["pair"] == PAIR and card["model_id"].startswith(f"{PAIR}-")
    assert card["corpus"]["name"] == "generated"
    assert card["code_version"]["nmt"] == __version__
    assert card["scores"]["valid"]["bleu"] == 1.5
    assert len(card["checkpoint_sha256"]) == 64
    model_dir = registry.model_dir(card["model_id"])
    assert json.loads((model_dir / "card.json").read_text()) == card
    registered = Translator.load(model_dir)
    got = registered.translate(["Ein mann läuft."])[0]
    want = Translator.load(run).translate(["Ein mann läuft."])[0]  # the run's own model
    assert got.tgt_ids and (got.translation, got.tgt_ids, got.score) == (
        want.translation,
        want.tgt_ids,
        want.score,
    )
    assert got.translation == registered.tokenizer.decode_tgt([got.tgt_ids])[0]
    assert registry.register(run) == card  # the same checkpoint again: the same entry
    assert [p.name for p in registry.models.iterdir()] == [card["model_id"]]  # no staging left


def test_registered_model_survives_the_run_replacing_its_checkpoint(tmp_path, run):
    registry = Registry.open(tmp_path / "registry")
    card = registry.register(run)
    save_checkpoint(run / "train" / "checkpoints" / "best.pt", {"meta": {}, "model": {}})
    Translator.load(registry.model_dir(card["model_id"]))  # still the registered weights


def test_promote_switches_the_current_pointer_and_remembers_the_previous(tmp_path, run):
    registry = Registry.open(tmp_path / "registry")
    with pytest.raises(LookupError, match="no current model for en-xx"):
        registry.current_dir(PAIR)
    first = registry.register(run)["model_id"]
    registry.promote(first, "first")
    other = make_registrable_run(tmp_path / "other")
    save_checkpoint(other / "train" / "checkpoints" / "best.pt", {"meta": {"x": 1}, "model": {}})
    second = registry.register(other)["model_id"]
    assert second != first
    pointer = registry.promote(second, "better")
    assert pointer["previous"] == first and registry.current(PAIR) == second
    assert registry.current_dir(PAIR) == registry.models / second
    assert os.listdir(registry.root / "current") == ["en-xx.json"]  # replaced in place, no temp files
    assert [(r["model_id"], r["current"]) for r in registry.listing()] == [(first, False), (second, True)]


def test_root_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_REGISTRY", str(tmp_path / "env"))
    assert registry_root() == tmp_path / "env"
    assert registry_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("NMT_REGISTRY")
    assert str(registry_root()) == "data/registry"


def test_pairs_must_be_src_dash_tgt():
    assert parse_pair("de-en") == ("de", "en")
    for bad in ("de", "de-", "-en", "de-en-fr"):
        with pytest.raises(ValueError, match="SRC-TGT"):
            parse_pair(bad)


def test_nmt_models_lists_registers_and_promotes(tmp_path, run):
    runner = CliRunner()
    root = str(tmp_path / "registry")
    empty = runner.invoke(app, ["models", "--registry", root])
    assert empty.exit_code == 0 and "no models registered" in empty.output
    registered = runner.invoke(app, ["models", "--registry", root, "register", str(run)])
    assert registered.exit_code == 0, registered.output
    model_id = json.loads(registered.output)["model_id"]
    promoted = runner.invoke(app, ["models", "--registry", root, "promote", model_id])
    assert promoted.exit_code == 0, promoted.output
    listed = runner.invoke(app, ["models", "--registry", root])
    assert listed.exit_code == 0
    header, row = listed.output.splitlines()
    assert "model" in header and row.startswith("*") and model_id in row and "generated" in row
    rows = json.loads(runner.invoke(app, ["models", "--registry", root, "--json"]).output)
    assert rows[0]["model_id"] == model_id and rows[0]["current"] is True
