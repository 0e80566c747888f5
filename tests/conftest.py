"""Shared fixtures: the shared corpora folder and one small trained run for the whole session."""

from pathlib import Path

import pytest
from run_fixtures import SHARED, small_pipeline

from nmt.model import native
from nmt.pipeline import run_pipeline


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """../shared/corpora, or a skip saying why when it is absent."""
    corpora = SHARED / "corpora"
    if not corpora.is_dir():
        pytest.skip(f"needs the shared corpora at {corpora} (absent on this machine)")
    return corpora


@pytest.fixture(scope="session")
def pipeline_report(tmp_path_factory) -> dict:
    """The report of `run_pipeline` (no Prefect) on a small generated corpus."""
    return run_pipeline(small_pipeline(tmp_path_factory.mktemp("runs"), "small", translate_beam=1))


@pytest.fixture(scope="session")
def trained_run(pipeline_report) -> Path:
    """The run directory of `pipeline_report`: every stage done, the model trained."""
    return Path(pipeline_report["run_dir"])


@pytest.fixture
def kernels():
    """The CPU kernels of nmt.model.native, which must build on the project's machines (a C++ compiler
    and ninja are there)."""
    built = native.kernels()
    assert built is not None, "the CPU kernels did not build: see the warning logged by nmt.model.native"
    return built


@pytest.fixture(params=[True, False], ids=["kernels", "torch-ops"])
def with_and_without_kernels(request, monkeypatch) -> bool:
    """Run a test with the CPU kernels, and again with torch's ops in their place, as where they cannot be
    built; True for the kernels."""
    if request.param:
        request.getfixturevalue("kernels")
    else:
        monkeypatch.setattr(native, "kernels", lambda: None)
    return request.param
