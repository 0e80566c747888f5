"""The translate stage: the Translator, and jobs of documents planned, run in shards and finalized."""

from nmt.translate.config import TranslateConfig
from nmt.translate.job import run_translate, translate_job
from nmt.translate.translator import Result, Translator

__all__ = ["Result", "TranslateConfig", "Translator", "run_translate", "translate_job"]
