"""Settings of the small trained run shared by the end-to-end tests."""

from pathlib import Path

from nmt.data.acquire import AcquireConfig, GeneratedSource
from nmt.evaluate.scores import EvaluateConfig
from nmt.pipeline import PipelineConfig
from nmt.text.tokenization import TokenizeConfig
from nmt.train.config import TrainConfig
from nmt.translate.config import TranslateConfig

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


def small_pipeline(run_root: Path, run_name: str, translate_beam: int) -> PipelineConfig:
    """The whole pipeline on the small corpus with the small settings above, and an alignment head."""
    return PipelineConfig(
        run_root=run_root,
        run_name=run_name,
        acquire=SMALL_CORPUS,
        tokenize=SMALL_TOKENIZER,
        train=SMALL_TRAINING.model_copy(update={"model": {**SMALL_TRAINING.model, "align_head": True}}),
        evaluate=EvaluateConfig(beams=[1], device="cpu"),
        translate=TranslateConfig(beam=translate_beam, statistical_links=True),
    )
