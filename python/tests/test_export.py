"""`export`: a merge's task as a Hugging Face folder (loaded by transformers alone, predicting what
osrm's evaluation scored) and, for linear merges, as one PEFT adapter equal to the dense merge;
refusals with reasons, atomic writes, a moved base found by its content digest."""

import os
import shutil

import pytest
import torch

from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.evaluate import predict_logits
from osrm_runtime.merge.materialize import LambdaSweep
from osrm_runtime.models import load_tokenizer, model_spec
from osrm_runtime.testing.adapters import make_adapter
from osrm_runtime.testing.calls import call_op


def task(name, glue_dir):
    return {"name": name, "source": {"kind": "glue", "task": name, "dir": glue_dir}, "max_eval": 24}


@pytest.fixture(scope="module")
def base(tiny_roberta, tmp_path_factory):
    """A copy of the tiny base this module may move around."""
    folder = tmp_path_factory.mktemp("base") / "tiny"
    shutil.copytree(tiny_roberta, folder)
    return str(folder)


@pytest.fixture(scope="module")
def adapters(base, glue_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return [{"task": task("sst2", glue_dir), "path": make_adapter(base, str(root / "sst2"), "sst2", seed=1, labels=["negative", "positive"])},
            {"task": task("rte", glue_dir), "path": make_adapter(base, str(root / "rte"), "rte", seed=2, labels=["entailment", "not_entailment"])}]


def merge(base, adapters, out, **method):
    return call_op("merge", {"model": {"name_or_path": base}, "adapters": adapters, "method": method, "out": str(out)}, None)


def export(merged, task_name, out, **options):
    return call_op("export", {"merged": merged, "task": task_name, "out": str(out), **options}, None)


def osrm_logits(base, merged, spec):
    """The logits osrm's evaluation of the merge scores on the task's eval split."""
    tokenizer = load_tokenizer(model_spec(base))
    examples = load_examples(task_spec(spec), "eval", 42)
    model = LambdaSweep(merged, spec["name"], model=model_spec(base)).model
    return predict_logits(model, tokenizer, examples, 128, 8), examples


def hf_logits(folder, texts):
    """transformers alone: the exported folder's tokenizer and model, nothing of osrm."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        return model(**batch).logits.numpy(), model


def test_hf_export_predicts_what_the_evaluation_scored(base, adapters, glue_dir, tmp_path):
    merged = merge(base, adapters, tmp_path / "ties", name="ties", density=0.5)["out"]
    result = export(merged, "sst2", tmp_path / "sst2-hf")
    assert {"config.json", "model.safetensors", "tokenizer.json", "osrm_task.json", "README.md"} <= set(result["files"])
    expected, examples = osrm_logits(base, merged, adapters[0]["task"])
    got, model = hf_logits(result["out"], list(examples.text_a))  # sst2: one sentence per example
    diff = float(abs(got - expected).max())
    print(f"hf export, TIES merge, task sst2: max |logit difference| to osrm's evaluation = {diff:.3g} (fp32)")
    assert diff <= 1e-5
    assert model.config.id2label == {0: "negative", 1: "positive"} and model.config.label2id["positive"] == 1
    assert all(os.stat(os.path.join(result["out"], f)).st_mode & 0o777 == 0o644 for f in result["files"])


def test_peft_export_of_a_linear_merge_is_the_dense_merge(base, adapters, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    for method, lam in (("task_arithmetic", 0.7), ("weight_averaging", 1.3)):
        merged = merge(base, adapters, tmp_path / method, name=method, **{"lambda": lam})["out"]
        peft = export(merged, "rte", tmp_path / f"{method}-peft", format="peft")
        dense = export(merged, "rte", tmp_path / f"{method}-hf")
        assert peft["rank"] == 8 and peft["lambda"] == lam  # two rank-4 adapters
        assert peft["max_abs_diff"] <= 1e-5
        # Loaded the standard way and merged by peft itself: the same weights as the dense export.
        loaded = PeftModel.from_pretrained(
            AutoModelForSequenceClassification.from_pretrained(base, num_labels=2), peft["out"]).merge_and_unload()
        reference = AutoModelForSequenceClassification.from_pretrained(dense["out"])
        theirs = reference.state_dict()
        worst = max(float((p - theirs[k]).abs().max()) for k, p in loaded.state_dict().items())
        print(f"peft export, {method}: max |update - stored dense merge| = {peft['max_abs_diff']:.3g}; "
              f"max |weight difference| to the dense export = {worst:.3g}")
        assert worst <= 1e-5
        tokenizer = load_tokenizer(model_spec(base))
        batch = tokenizer(["the plot was awful", "a lovely warm film"], padding=True, return_tensors="pt")
        with torch.no_grad():
            assert float((loaded(**batch).logits - reference(**batch).logits).abs().max()) <= 1e-5


def test_peft_export_of_a_non_linear_merge_is_refused_with_what_to_do(base, adapters, tmp_path):
    merged = merge(base, adapters, tmp_path / "emr", name="emr")["out"]
    with pytest.raises(ValueError, match=r"method 'emr' is not a fixed linear combination.*--format hf"):
        export(merged, "sst2", tmp_path / "emr-peft", format="peft")
    assert not (tmp_path / "emr-peft").exists()


def test_export_refuses_a_non_empty_folder_and_never_leaves_half_a_folder(base, adapters, tmp_path, monkeypatch):
    merged = merge(base, adapters, tmp_path / "ta", name="task_arithmetic")["out"]
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty.*--force"):
        export(merged, "sst2", out)
    assert os.listdir(out) == ["keep.txt"]

    import osrm_runtime.merge.export as export_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "load_tokenizer", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export(merged, "sst2", out, force=True)
    assert os.listdir(out) == ["keep.txt"]  # the old folder is intact
    with pytest.raises(RuntimeError):
        export(merged, "sst2", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["ta", "taken"])  # no temporary folder left behind
    monkeypatch.undo()

    result = export(merged, "sst2", out, force=True)
    assert "keep.txt" not in os.listdir(out) and "model.safetensors" in result["files"]


def test_a_moved_base_is_found_by_content_and_a_missing_one_is_named(base, adapters, tmp_path):
    merged = merge(base, adapters, tmp_path / "ta", name="task_arithmetic")["out"]
    moved = tmp_path / "moved-base"
    os.rename(base, moved)
    try:
        with pytest.raises(ValueError, match=rf"made on base model '{base}'.*not there any more \(looked at {base}\).*--model"):
            export(merged, "sst2", tmp_path / "x")
        result = export(merged, "sst2", tmp_path / "x", model={"name_or_path": str(moved)})
        assert result["base"] == str(moved)
        other = tmp_path / "other-base"
        shutil.copytree(moved, other)
        torch.manual_seed(5)
        from safetensors.torch import load_file, save_file

        weights = load_file(str(other / "model.safetensors"))
        first = sorted(weights)[0]
        weights[first] = weights[first] + 1.0
        save_file(weights, str(other / "model.safetensors"))
        with pytest.raises(ValueError, match="content digest"):
            export(merged, "sst2", tmp_path / "y", model={"name_or_path": str(other)})
    finally:
        os.rename(moved, base)
