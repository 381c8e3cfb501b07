"""Model merging: methods (one file per method or family), their registry, the streaming driver,
the merged folder format, evaluation, hyperparameter search and robustness curves."""
