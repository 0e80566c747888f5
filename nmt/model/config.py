"""Model configuration and its named presets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    """Sizes and variants of the encoder-decoder; the defaults are the paper's model."""

    model_config = ConfigDict(extra="forbid")

    emb_dim: int = Field(620, gt=0, description="word embedding size (source and target)")
    enc_hidden: int = Field(1000, gt=0, description="encoder GRU size per direction")
    dec_hidden: int = Field(1000, gt=0, description="decoder state size")
    attn_dim: int = Field(1000, gt=0, description="hidden size of the attention MLP")
    maxout_dim: int = Field(500, gt=0, description="size of the maxout layer t_i (pool size 2)")
    enc_layers: int = Field(1, ge=1)
    dec_layers: int = Field(1, ge=1)
    cell: Literal["gru", "lstm"] = "gru"
    attention: Literal["bahdanau", "luong_dot", "luong_general"] = Field(
        "bahdanau",
        description="bahdanau scores with s_{i-1} (the paper); luong_* score with the new state",
    )
    input_feeding: bool = Field(False, description="feed the previous context into the decoder")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    tie_embeddings: bool = Field(False, description="share source/target/output embeddings")
    align_head: bool = Field(
        False,
        description="a second attention scored once the target word is known, trained only on the "
        "statistical links (guided alignment); the translation never reads it",
    )


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(emb_dim=32, enc_hidden=32, dec_hidden=64, attn_dim=32, maxout_dim=32),
    "small": ModelConfig(
        emb_dim=128, enc_hidden=128, dec_hidden=256, attn_dim=256, maxout_dim=128, dropout=0.1
    ),
    "base": ModelConfig(
        emb_dim=256, enc_hidden=256, dec_hidden=512, attn_dim=512, maxout_dim=256, dropout=0.2
    ),
    "paper": ModelConfig(),
}


def preset(name: str, **overrides) -> ModelConfig:
    """Return the named preset with `overrides` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].model_copy(update=overrides)
