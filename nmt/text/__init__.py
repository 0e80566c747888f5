"""Text: the tokenize stage (sentencepiece, token shards), input documents and their sentences."""

from nmt.text.tokenization import TokenizeConfig, Tokenizer, run_tokenize

__all__ = ["TokenizeConfig", "Tokenizer", "run_tokenize"]
