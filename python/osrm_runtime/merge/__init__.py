"""Model merging: methods (one file per method or family), their registry, the streaming driver,
the merged folder format, evaluation, hyperparameter search and robustness curves."""

from .materialize import load_merged_task_model
from .registry import METHODS, describe_all, parse_method

__all__ = ["METHODS", "describe_all", "parse_method", "load_merged_task_model"]
