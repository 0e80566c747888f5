"""The Python API (nmt.load, nmt.export) and exported models, on the tiny random model (no training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from registry_fixtures import PAIR, make_registrable_run, registry_with_current
from test_translate import write_docs
from typer.testing import CliRunner

import nmt
from nmt.cli import app
from nmt.core.atomic import file_sha256
from nmt.evaluate.forced import AlignConfig, align_pairs
from nmt.model.checkpoint import save_checkpoint
from nmt.model.search import DecodeConfig
from nmt.ops.registry import Registry

SENTENCES = ["Ein mann läuft.", "Die katze sitzt auf dem haus.", "Der hund spielt im park mit einem ball."]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_registrable_run(tmp_path_factory.mktemp("api") / "run")


@pytest.fixture(scope="module")
def model(run):
    return nmt.load(run, device="cpu")


def test_import_nmt_loads_no_torch_until_a_public_name_is_used():
    code = "import sys, nmt; a = 'torch' in sys.modules; nmt.load; print(a, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "True"], done.stderr
    assert set(nmt.__all__) >= {"load", "export", "run_translate", "run_train", "run_pipeline"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = nmt.nope


def test_translate_returns_a_string_for_a_string_and_a_list_for_a_list(model):
    per_sentence = [r.translation for r in model.translator.translate(SENTENCES, DecodeConfig(beam=2))]
    assert model.translate(" ".join(SENTENCES[:2]), beam=2) == " ".join(per_sentence[:2])
    got = model.translate([SENTENCES[0], "", f"{SENTENCES[1]}\n\n{SENTENCES[2]}"], beam=2)
    assert got == [per_sentence[0], "", f"{per_sentence[1]}\n\n{per_sentence[2]}"]
    assert model.translate([]) == []
    assert model.device == "cpu" and (model.src_lang, model.tgt_lang) == ("en", "xx")


def test_translate_refuses_what_is_not_text_and_unknown_settings(model):
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        model.translate(["Ein mann.", 3])
    with pytest.raises(ValueError, match="beem"):
        model.translate("Ein mann.", beem=3)


def test_align_gives_the_forced_alignment_links(model):
    pairs = [("ein mann läuft", "a man runs"), ("die katze sitzt", "the cat sits down")]
    want = align_pairs(model.translator, [(s.split(), t.split()) for s, t in pairs], AlignConfig())
    assert model.align(*pairs[0]) == sorted(want[0].links)
    assert model.align([s for s, _ in pairs], [t for _, t in pairs]) == [sorted(w.links) for w in want]
    assert all(0 <= i < 3 and 0 <= j < 4 for i, j in model.align(*pairs[1]))
    with pytest.raises(ValueError, match="pair 1: the target has no words"):
        model.align(["a b", "c"], ["x", " "])
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        model.align(["a", "b"], ["x"])


def test_translate_documents_runs_the_translate_job(model, tmp_path):
    docs = write_docs(tmp_path / "docs", 1, 2, 2)
    summary = model.translate_documents(docs, tmp_path / "out", beam=1, progress=False)
    assert summary["documents"] == 1 and summary["errors"] == 0 and summary["model_id"] == model.model_id
    (source,) = docs.rglob("*.txt")
    written = (tmp_path / "out" / "docs" / source.relative_to(docs)).read_text()
    assert written == model.translate(source.read_text(), beam=1)


def test_load_resolves_a_model_id_and_a_pair_in_the_registry(tmp_path, run):
    registry = registry_with_current(tmp_path / "registry", run)
    model_id = registry.current(PAIR)
    by_pair = nmt.load(PAIR, device="cpu", registry=registry.root)
    by_id = nmt.load(model_id, device="cpu", registry=registry.root)
    assert by_pair.path == by_id.path == registry.model_dir(model_id)
    assert by_pair.translate(SENTENCES[0], beam=1) == nmt.load(run, "cpu").translate(SENTENCES[0], beam=1)


def test_a_pair_without_a_current_model_names_the_one_registered_last(tmp_path, run):
    registry = Registry.open(tmp_path / "registry")
    first = registry.register(run)["model_id"]
    assert registry.model_for(PAIR) == first
    other = make_registrable_run(tmp_path / "other")
    save_checkpoint(other / "train" / "checkpoints" / "best.pt", {"meta": {"x": 1}, "model": {}})
    second = registry.register(other)["model_id"]
    assert registry.model_for(PAIR) == second  # registered last
    registry.promote(first)
    assert registry.model_for(PAIR) == first  # the current model wins


def test_unknown_models_are_one_clear_error(tmp_path):
    empty = tmp_path / "registry"
    with pytest.raises(LookupError, match=f"no model for de-en in the registry at {empty}"):
        nmt.load("de-en", registry=empty)
    with pytest.raises(LookupError, match="'gibberish' is not a folder, a model id in the registry"):
        nmt.load("gibberish", registry=empty)
    with pytest.raises(FileNotFoundError, match=f"model folder {tmp_path}/nowhere does not exist"):
        nmt.load(tmp_path / "nowhere")


def test_an_export_translates_like_its_run_and_is_checked(tmp_path, run, model):
    summary = nmt.export(run, tmp_path / "export")
    export = tmp_path / "export"
    assert sorted(p.name for p in export.iterdir()) == ["model.json", "model.safetensors", "spm.model"]
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in export.iterdir()} == {0o666 & ~umask}  # shippable, not private
    assert export.stat().st_mode & 0o777 == 0o777 & ~umask
    card = json.loads((export / "model.json").read_text())
    assert card["model_id"] == model.model_id and card["pair"] == PAIR
    assert {name: info["sha256"] for name, info in card["files"].items()} == {
        name: file_sha256(export / name) for name in ("model.safetensors", "spm.model")
    }
    checkpoint = run / "train" / "checkpoints" / "best.pt"
    assert summary["checkpoint_bytes"] == checkpoint.stat().st_size
    assert summary["export_bytes"] == sum(p.stat().st_size for p in export.iterdir())
    shipped = nmt.load(export, device="cpu")
    assert (shipped.src_lang, shipped.tgt_lang) == ("en", "xx")
    assert shipped.translate(SENTENCES, beam=3) == model.translate(SENTENCES, beam=3)
    assert shipped.align("ein mann läuft", "a man runs") == model.align("ein mann läuft", "a man runs")
    spm_model = export / "spm.model"
    data = spm_model.read_bytes()
    spm_model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit changed
    with pytest.raises(ValueError, match="spm.model: sha256 .* differs from model.json's"):
        nmt.load(export, device="cpu")


def test_export_refuses_a_folder_that_is_not_an_export(tmp_path, run):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="taken exists and is not an exported model"):
        nmt.export(run, tmp_path / "taken")
    nmt.export(run, tmp_path / "export")
    with pytest.raises(ValueError, match="is an exported model already"):
        nmt.export(tmp_path / "export", tmp_path / "again")


def test_exporting_a_registered_model_points_its_card_at_the_export(tmp_path, run):
    registry = registry_with_current(tmp_path / "registry", run)
    model_id = registry.current(PAIR)
    summary = nmt.export(PAIR, tmp_path / "export", registry=registry.root)
    assert summary["registered"] == [model_id]
    pointer = registry.card(model_id)["export"]
    assert pointer["path"] == str((tmp_path / "export").resolve())
    assert pointer["model_json_sha256"] == file_sha256(tmp_path / "export" / "model.json")
    assert registry.listing()[0]["model_id"] == model_id  # the card is still a card


def test_nmt_export_prints_the_export_size_beside_the_checkpoint(tmp_path, run):
    done = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "export")])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout[done.stdout.index("{") :])
    assert printed["checkpoint_bytes"] == (run / "train" / "checkpoints" / "best.pt").stat().st_size
    assert printed["export_bytes"] == sum(p.stat().st_size for p in (tmp_path / "export").iterdir())
