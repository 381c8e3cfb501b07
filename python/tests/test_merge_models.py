"""Merges of real (tiny) models end to end: exact identities against peft itself, the merged folder
format, materialisation through transformers, full fine-tuned inputs, clear input errors,
evaluation and the hyperparameter search."""

import json
import os
import shutil

import pytest
import torch

from osrm_runtime.merge.materialize import load_merged_task_model
from osrm_runtime.testing.adapters import make_adapter
from osrm_runtime.models import model_spec, load_classifier, load_tokenizer
from osrm_runtime.testing.calls import call_op


def task(name, glue_dir):
    return {"name": name, "source": {"kind": "glue", "task": name, "dir": glue_dir}, "max_eval": 24}


@pytest.fixture(scope="module")
def adapters(tiny_roberta, glue_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return [{"task": task("sst2", glue_dir), "path": make_adapter(tiny_roberta, str(root / "sst2"), "sst2", seed=1)},
            {"task": task("rte", glue_dir), "path": make_adapter(tiny_roberta, str(root / "rte"), "rte", seed=2)}]


def logits_of(model, tiny_roberta, texts=("good film was great", "the plot was awful and dull")):
    tok = load_tokenizer(model_spec(tiny_roberta))
    batch = tok(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).logits


def peft_model(tiny_roberta, *paths):
    """Applies adapters one after another with peft's own merge (the last one's head stays)."""
    from peft import PeftModel

    model = load_classifier(model_spec(tiny_roberta), 2)
    for path in paths:
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
    return model


def do_merge(tiny_roberta, adapters, out, **method):
    return call_op("merge", {"model": {"name_or_path": tiny_roberta}, "adapters": adapters, "method": method, "out": str(out),
                  "data": {"examples": 8}}, None)


def test_task_arithmetic_lambda_one_equals_applying_both_adapters(tiny_roberta, adapters, tmp_path):
    result = do_merge(tiny_roberta, adapters, tmp_path / "ta", name="task_arithmetic", **{"lambda": 1.0})
    both = peft_model(tiny_roberta, adapters[1]["path"], adapters[0]["path"])  # sst2's head last
    merged = load_merged_task_model(result["out"], "sst2")
    assert (logits_of(merged, tiny_roberta) - logits_of(both, tiny_roberta)).abs().max() < 1e-5
    # the folder holds only the changed tensors (q, v of 2 layers), and each task's own head
    assert result["tensors"] == 4
    rte = load_merged_task_model(result["out"], "rte")
    assert not torch.allclose(logits_of(rte, tiny_roberta), logits_of(merged, tiny_roberta))


def test_emr_with_one_task_reproduces_the_adapter(tiny_roberta, adapters, tmp_path):
    result = do_merge(tiny_roberta, adapters[:1], tmp_path / "emr", name="emr")
    assert os.path.isfile(result["files"]["masks"]["sst2"])
    assert result["rescalers"]["sst2"] == pytest.approx(1.0)
    own = peft_model(tiny_roberta, adapters[0]["path"])
    merged = load_merged_task_model(result["out"], "sst2")
    assert (logits_of(merged, tiny_roberta) - logits_of(own, tiny_roberta)).abs().max() < 1e-5


def test_emr_masks_are_one_bit_per_entry(tiny_roberta, adapters, tmp_path):
    from safetensors.torch import load_file

    result = do_merge(tiny_roberta, adapters, tmp_path / "emr2", name="emr")
    packed = load_file(result["files"]["masks"]["rte"])
    deltas = load_file(result["files"]["delta"])
    for key, bits in packed.items():
        assert bits.dtype == torch.uint8 and bits.numel() == (deltas[key].numel() + 7) // 8


def test_core_space_ta_equals_dense_ta_on_the_model(tiny_roberta, adapters, tmp_path):
    from safetensors.torch import load_file

    dense = load_file(do_merge(tiny_roberta, adapters, tmp_path / "a", name="task_arithmetic")["files"]["delta"])
    core = load_file(do_merge(tiny_roberta, adapters, tmp_path / "b", name="core_space_ta")["files"]["delta"])
    assert dense.keys() == core.keys()
    assert max(float((dense[k] - core[k]).abs().max()) for k in dense) < 1e-5


def test_regmean_with_one_task_returns_its_weights(tiny_roberta, adapters, tmp_path):
    from safetensors.torch import load_file

    result = do_merge(tiny_roberta, adapters[:1], tmp_path / "rm", name="regmean")
    deltas = load_file(result["files"]["delta"])
    with open(os.path.join(adapters[0]["path"], "adapter_config.json")) as f:
        config = json.load(f)
    scale = config["lora_alpha"] / config["r"]
    factors = load_file(os.path.join(adapters[0]["path"], "adapter_model.safetensors"))
    key = "encoder.layer.1.attention.self.value.weight"
    prefix = "base_model.model.roberta.encoder.layer.1.attention.self.value"
    own = factors[f"{prefix}.lora_B.weight"] @ factors[f"{prefix}.lora_A.weight"] * scale
    assert (deltas[key] - own).abs().max() < 1e-4
    assert os.path.isfile(tmp_path / "rm" / "stats" / "gram-sst2.safetensors")


def test_fisher_merge_reads_data_and_stays_between_the_tasks(tiny_roberta, adapters, tmp_path):
    from safetensors.torch import load_file

    deltas = load_file(do_merge(tiny_roberta, adapters, tmp_path / "f", name="fisher")["files"]["delta"])
    fishers = [load_file(str(tmp_path / "f" / "stats" / f"fisher-{n}.safetensors")) for n in ("sst2", "rte")]
    assert all(float(f[k].sum()) > 0 for f in fishers for k in f)
    assert all(torch.isfinite(d).all() for d in deltas.values())


def test_full_fine_tuned_models_merge_tensor_by_tensor(tiny_roberta, tmp_path):
    from safetensors.torch import load_file

    folders, deltas = [], []
    for t, name in enumerate(("sst2", "rte")):
        torch.manual_seed(t)
        model = load_classifier(model_spec(tiny_roberta), 2)
        change = {}
        with torch.no_grad():
            for key, p in model.roberta.named_parameters():
                if "layer.0" in key:  # a fine-tune that moved only the first layer
                    change[key] = torch.randn_like(p) * 0.01
                    p.add_(change[key])
        model.save_pretrained(str(tmp_path / name))
        folders.append({"task": name, "path": str(tmp_path / name)})
        deltas.append(change)
    result = call_op("merge", {"model": {"name_or_path": tiny_roberta}, "adapters": folders,
                    "method": {"name": "weight_averaging"}, "out": str(tmp_path / "merged")}, None)
    stored = load_file(result["files"]["delta"])
    assert result["kind"] == "full" and set(stored) == set(deltas[0])  # unchanged tensors stay with the base
    for key in stored:
        assert torch.allclose(stored[key], (deltas[0][key] + deltas[1][key]) / 2, atol=1e-6)
    head = load_file(result["files"]["heads"]["rte"])
    assert "classifier.out_proj.weight" in head


def _broken_copy(src, dst, edit):
    shutil.copytree(src, dst)
    edit(dst)
    return str(dst)


def test_bad_inputs_fail_clearly_before_any_work(tiny_roberta, adapters, glue_dir, tmp_path):
    out = tmp_path / "never"

    def attempt(items, **method):
        with pytest.raises(ValueError) as info:
            call_op("merge", {"model": {"name_or_path": tiny_roberta}, "adapters": items,
                   "method": method or {"name": "ties"}, "out": str(out)}, None)
        assert not out.exists()
        return str(info.value)

    def rebase(folder):
        path = os.path.join(folder, "adapter_config.json")
        config = json.load(open(path))
        config["base_model_name_or_path"] = "roberta-base"
        json.dump(config, open(path, "w"))

    other = _broken_copy(adapters[1]["path"], tmp_path / "other-base", rebase)
    assert "'rte'" in attempt([adapters[0], {"task": "rte", "path": other}]) and "roberta-base" in attempt(
        [adapters[0], {"task": "rte", "path": other}])
    rank8 = make_adapter(tiny_roberta, str(tmp_path / "rank8"), "rte", rank=8)
    message = attempt([adapters[0], {"task": "rte", "path": rank8}])
    assert "rank 8" in message and "'rte'" in message and "encoder.layer.0.attention.self.query.weight" in message
    keys_only = make_adapter(tiny_roberta, str(tmp_path / "qk"), "rte", target_modules=("query", "key"))
    message = attempt([adapters[0], {"task": "rte", "path": keys_only}])
    assert "attention.self.key.weight" in message and "'rte'" in message

    def drop_head(folder):
        from safetensors.torch import load_file, save_file

        path = os.path.join(folder, "adapter_model.safetensors")
        save_file({k: v for k, v in load_file(path).items() if "classifier" not in k}, path)

    headless = _broken_copy(adapters[1]["path"], tmp_path / "headless", drop_head)
    assert "no classification head" in attempt([adapters[0], {"task": "rte", "path": headless}])
    assert "method.density: must be <= 1, got 2.0" in attempt(adapters, name="ties", density=2.0)
    assert "full task spec" in attempt([{"task": "sst2", "path": adapters[0]["path"]}], name="fisher")


def test_evaluate_reports_tasks_average_and_normalized(tiny_roberta, adapters, tmp_path):
    result = do_merge(tiny_roberta, adapters, tmp_path / "e", name="task_arithmetic")
    tasks = [{"task": a["task"], "adapter": a["path"]} for a in adapters]
    report = call_op("evaluate", {"model": {"name_or_path": tiny_roberta}, "merged": result["out"], "tasks": tasks,
                       "split": "eval"}, None)
    assert set(report["tasks"]) == {"sst2", "rte"}
    for name, entry in report["tasks"].items():
        assert set(entry) >= {"score", "metrics", "individual", "normalized"}
        if entry["normalized"] is not None:
            assert entry["normalized"] == pytest.approx(entry["score"] / entry["individual"]["score"])
    assert report["average"] == pytest.approx(sum(t["score"] for t in report["tasks"].values()) / 2)
    # lambda 0 is the base model with each task's head; individual scores can be passed in
    base_only = call_op("evaluate", {"model": {"name_or_path": tiny_roberta}, "merged": result["out"], "tasks": tasks,
                          "lambda": 0.0, "individual": {"sst2": 1.0, "rte": 0.5}}, None)
    assert base_only["lambda"] == 0.0
    assert base_only["tasks"]["rte"]["normalized"] == pytest.approx(base_only["tasks"]["rte"]["score"] / 0.5)
    # a robustness curve on the same split: one point per lambda, the merge's own lambda scoring as it does
    curved = call_op("evaluate", {"model": {"name_or_path": tiny_roberta}, "merged": result["out"], "tasks": tasks,
                                  "split": "eval", "lambdas": [0.0, result["lambda"], 2.0]}, None)
    assert [p["lambda"] for p in curved["curve"]] == [0.0, result["lambda"], 2.0]
    assert curved["curve"][1]["average"] == pytest.approx(report["average"])
    assert curved["curve"][1]["tasks"] == {n: t["score"] for n, t in report["tasks"].items()}
    assert curved["curve"][0]["tasks"] == {n: t["score"] for n, t in base_only["tasks"].items()}
    assert report.get("curve") is None


def test_search_uses_a_training_holdout_and_writes_the_robustness_curve(tiny_roberta, adapters, glue_dir, tmp_path):
    result = call_op("merge", {"model": {"name_or_path": tiny_roberta}, "adapters": adapters,
                    "method": {"name": "dare_ties", "seed": 3},
                    "search": {"grid": {"lambda": [0.5, 1.0, 1.5], "drop_rate": [0.0, 0.5]},
                               "holdout": {"count": 16, "seed": 1}},
                    "out": str(tmp_path / "s")}, None)
    search = result["search"]
    assert len(search["rows"]) == 6 and search["holdout"]["split"] == "train"
    assert search["holdout"]["examples"] == {"sst2": 16, "rte": 16}
    best = max(search["rows"], key=lambda r: r["normalized"] if r["normalized"] is not None else r["average"])
    assert result["lambda"] == best["lambda"] and result["method"]["drop_rate"] == best["drop_rate"]
    for path in search["curve"].values():
        assert os.path.getsize(path) > 0
    with open(search["curve"]["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    curve = json.load(open(search["curve"]["json"]))
    assert [r["lambda"] for r in curve["rows"][:3]] == [0.5, 1.0, 1.5]
    assert not os.path.exists(os.path.join(result["out"], "search", "setting-0"))
