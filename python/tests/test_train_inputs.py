"""Bad input to the train op fails before any training, with a message that names the problem
(and the out folder is never created)."""

import pytest

from osrm_runtime.dispatch import run_op


def run(model, out, source, **task):
    return run_op("train", {"model": {"name_or_path": model}, "task": {"name": "t", "source": source, **task},
                            "training": {"epochs": 1}, "out": str(out)})


@pytest.mark.parametrize("case, message", [
    ("missing_split", r"does not exist \(the folder has: train.tsv\)"),
    ("missing_column", r"has no column 'text' \(columns: sentence, label\)"),
    ("label_outside", r"label '2' is not in the label set \['0', '1'\]"),
    ("empty_text", r"empty texts in its first text field"),
    ("too_long", r"max_length 512 is larger than the model's maximum of 128 positions"),
])
def test_bad_input_is_a_clear_error_before_training(case, message, tiny_roberta, tmp_path):
    folder = tmp_path / "data" / "SST-2"
    folder.mkdir(parents=True)
    good = "sentence\tlabel\n" + "".join(f"good film {i}\t{i % 2}\n" for i in range(10))
    (folder / "train.tsv").write_text(good)
    source = {"kind": "glue", "task": "sst2", "dir": str(tmp_path / "data")}
    task = {}
    if case != "missing_split":
        (folder / "dev.tsv").write_text(good)
    if case == "missing_column":
        source = {"kind": "files", "train": str(folder / "train.tsv"), "eval": str(folder / "train.tsv"),
                  "format": "tsv", "text": ["text"], "label": "label"}
    if case == "label_outside":
        (folder / "dev.tsv").write_text(good + "fine film\t2\n")
    if case == "empty_text":
        (folder / "train.tsv").write_text(good + " \t1\n")
    if case == "too_long":
        task = {"max_length": 512}
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run(tiny_roberta, out, source, **task)
    assert not out.exists()


def test_unknown_payload_keys_and_bad_values_are_named(tiny_roberta, tmp_path):
    base = {"model": {"name_or_path": tiny_roberta}, "out": str(tmp_path / "o"),
            "task": {"name": "t", "source": {"kind": "glue", "task": "sst2", "dir": str(tmp_path)}}}
    with pytest.raises(ValueError, match=r"train: training: unknown key 'learning_rate'; known: batch_size"):
        run_op("train", {**base, "training": {"learning_rate": 1e-3}})
    with pytest.raises(ValueError, match="train: lora.freeze: must be one of 'none', 'A', 'B'; got 'both'"):
        run_op("train", {**base, "lora": {"freeze": "both"}})
    with pytest.raises(ValueError, match="train: training.epochs: must be > 0, got 0"):
        run_op("train", {**base, "training": {"epochs": 0}})
    with pytest.raises(ValueError, match="train: init.kind: must be one of"):
        run_op("train", {**base, "init": {"kind": "lora-ga"}})
