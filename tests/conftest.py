"""Shared fixtures: the shared corpora folder and one small trained run for the whole session."""

from pathlib import Path

import pytest
from run_fixtures import SHARED, SMALL_CORPUS, SMALL_TOKENIZER, SMALL_TRAINING

from nmt.pipeline import acquire_stage, tokenize_stage, train_stage


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """../shared/corpora, or a skip saying why when it is absent."""
    corpora = SHARED / "corpora"
    if not corpora.is_dir():
        pytest.skip(f"needs the shared corpora at {corpora} (absent on this machine)")
    return corpora


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A run directory with acquire, tokenize and train done on a small generated corpus."""
    run_dir = tmp_path_factory.mktemp("runs") / "small"
    acquire_stage(run_dir, SMALL_CORPUS)
    tokenize_stage(run_dir, SMALL_TOKENIZER)
    train_stage(run_dir, SMALL_TRAINING)
    return run_dir
