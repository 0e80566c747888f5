"""The translate stage: the Translator, and jobs of documents planned, run in shards and finalized."""

from nmt.translate.job import Result, TranslateConfig, Translator, run_translate, translate_job

__all__ = ["Result", "TranslateConfig", "Translator", "run_translate", "translate_job"]
