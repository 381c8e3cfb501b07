"""The 8 GLUE tasks as the paper runs them: text fields, label sets, metrics, splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class GlueTask:
    name: str
    folder: str              # folder name in the original GLUE download
    text_fields: tuple       # one or two columns
    num_labels: int          # 1 = regression
    metric: str              # the task's combined metric (see metrics.py)
    train_file: str = "train.tsv"
    eval_file: str = "dev.tsv"
    # Columns of the original TSVs (header row present in all but CoLA).
    tsv_columns: Optional[tuple] = None
    tsv_label: str = "label"
    label_values: Optional[tuple] = None  # TSV label strings, in the hub's label order

    @property
    def regression(self) -> bool:
        return self.num_labels == 1


GLUE_TASKS: dict[str, GlueTask] = {
    "cola": GlueTask("cola", "CoLA", ("sentence",), 2, "matthews",
                     tsv_columns=("source", "label", "original_label", "sentence"),
                     label_values=("0", "1")),
    "sst2": GlueTask("sst2", "SST-2", ("sentence",), 2, "accuracy", label_values=("0", "1")),
    "mrpc": GlueTask("mrpc", "MRPC", ("sentence1", "sentence2"), 2, "accuracy_f1",
                     tsv_label="Quality", label_values=("0", "1")),
    "stsb": GlueTask("stsb", "STS-B", ("sentence1", "sentence2"), 1, "pearson_spearman", tsv_label="score"),
    "qqp": GlueTask("qqp", "QQP", ("question1", "question2"), 2, "accuracy_f1",
                    tsv_label="is_duplicate", label_values=("0", "1")),
    "mnli": GlueTask("mnli", "MNLI", ("premise", "hypothesis"), 3, "accuracy",
                     eval_file="dev_matched.tsv", tsv_label="gold_label",
                     label_values=("entailment", "neutral", "contradiction")),
    "qnli": GlueTask("qnli", "QNLI", ("question", "sentence"), 2, "accuracy",
                     label_values=("entailment", "not_entailment")),
    "rte": GlueTask("rte", "RTE", ("sentence1", "sentence2"), 2, "accuracy",
                    label_values=("entailment", "not_entailment")),
}

# Column names in the original TSVs that differ from the hub's names.
TSV_TEXT_COLUMNS: dict[str, tuple] = {
    "mrpc": ("#1 String", "#2 String"),
    "mnli": ("sentence1", "sentence2"),
}

HUB_EVAL_SPLIT = {"mnli": "validation_matched"}
