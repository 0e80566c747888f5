"""The model: its config and presets, the Bahdanau network, search, checkpoints and batches."""

from nmt.model.bahdanau import Seq2Seq
from nmt.model.checkpoint import load_model
from nmt.model.config import PRESETS, ModelConfig, preset
from nmt.model.search import Hypothesis, beam_search, greedy

__all__ = ["PRESETS", "Hypothesis", "ModelConfig", "Seq2Seq", "beam_search", "greedy", "load_model", "preset"]
