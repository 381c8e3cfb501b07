"""Task data: the GLUE tasks (hub or a local GLUE folder) and any CSV/TSV/JSONL task with a
column mapping, read into plain `Examples` (texts and labels) and tokenised in batches."""

from .examples import Examples, TaskSpec, load_examples, task_metric, task_spec

__all__ = ["Examples", "TaskSpec", "load_examples", "task_metric", "task_spec"]
