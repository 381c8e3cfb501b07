"""Test support, apart from the numerical core: tiny real models and GLUE-format folders
(fixtures), random LoRA task adapters (adapters), and ops that exercise the boundary itself
(ops). Its ops are registered only when tests ask for them (OSRM_TESTING_OPS=1)."""

from .fixtures import NEGATIVE, NEUTRAL, POSITIVE, make_tiny_model, make_tokenizer, write_glue_dir

__all__ = ["NEGATIVE", "NEUTRAL", "POSITIVE", "make_tiny_model", "make_tokenizer", "write_glue_dir"]
