"""Shared fixtures: the shared corpora folder and one small trained run for the whole session."""

from pathlib import Path

import pytest

from nmt.acquire import AcquireConfig, GeneratedSource
from nmt.pipeline import acquire_stage, tokenize_stage, train_stage
from nmt.tokenization import TokenizeConfig
from nmt.train import TrainConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# A small generated corpus and model settings that learn visibly within a minute on 2 CPU cores.
SMALL_CORPUS = AcquireConfig(source=GeneratedSource(sizes={"train": 3000, "valid": 100, "test": 100}))
SMALL_TOKENIZER = TokenizeConfig(model_type="bpe", vocab_size=1200)
SMALL_TRAINING = TrainConfig(
    preset="small",
    model={"attn_dim": 128},
    lr=3e-3,
    batch_tokens=1500,
    max_steps=300,
    max_epochs=None,
    valid_every=300,
    seed=1,
)


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
