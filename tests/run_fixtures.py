"""Settings of the small trained run shared by the end-to-end tests."""

from pathlib import Path

from nmt.acquire import AcquireConfig, GeneratedSource
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
