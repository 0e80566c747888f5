"""The evaluate stage: sacrebleu scores, forced alignment scored against gold, heatmaps, run comparison."""

from nmt.evaluate.forced import AlignConfig, align_pairs, run_align
from nmt.evaluate.scores import EvaluateConfig, run_evaluate

__all__ = ["AlignConfig", "EvaluateConfig", "align_pairs", "run_align", "run_evaluate"]
