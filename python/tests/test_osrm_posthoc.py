"""Post-hoc OSRM (transform) and the interference diagnostic, on tiny real models."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from osrm_runtime.context import Context
from osrm_runtime.models import model_spec, load_classifier
from osrm_runtime.osrm import stats as stats_op
from osrm_runtime.osrm.stats_cache import load_stats
from osrm_runtime.testing.calls import call_op

TASKS = ["sst2", "mrpc", "rte"]


def _ctx():
    return Context("test")


@pytest.fixture(scope="module")
def setup(tiny_roberta, glue_dir, tmp_path_factory):
    """Statistics of three tasks, each task's OSRM init (r 4, alpha 16) and a trained-looking
    LoRA adapter per task (r 4, alpha 8, random B, a 3-way head)."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("posthoc")
    files = {t: call_op("collect_stats", 
        {"model": {"name_or_path": tiny_roberta}, "task": {"name": t, "source": {"kind": "glue", "task": t, "dir": glue_dir}},
         "osrm": {"samples": 24}, "batch_size": 12, "cache_dir": str(root / "cache")}, _ctx())["file"] for t in TASKS}
    inits, adapters = {}, {}
    for i, t in enumerate(TASKS):
        inits[t] = call_op("osrm_init", {"task": t, "stats": files, "lora": {"rank": 4, "alpha": 16}, "out": str(root / "init" / t)},
                             _ctx())["adapter"]
        torch.manual_seed(10 + i)
        model = get_peft_model(load_classifier(model_spec(tiny_roberta), num_labels=3),
                               LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"]))
        for name, p in model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.data.normal_(0, 0.2)
        model.save_pretrained(str(root / "lora" / t))
        json.dump({"task": t, "num_labels": 3, "regression": False, "labels": ["a", "b", "c"], "metric": "accuracy"},
                  open(root / "lora" / t / "osrm_task.json", "w"))
        adapters[t] = str(root / "lora" / t)
    return {"root": root, "stats": files, "init": inits, "lora": adapters, "base": tiny_roberta}


def _deltas(folder):
    """module -> s B A as PEFT computes it after loading the folder."""
    from peft import PeftModel

    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    model = PeftModel.from_pretrained(load_classifier(model_spec(cfg["base_model_name_or_path"]), num_labels=3), folder)
    out = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            out[name.removeprefix("base_model.model.")] = module.get_delta_weight("default").double()
    return model, out


def _rows(folder, module):
    return load_file(os.path.join(folder, "adapter_model.safetensors"))[f"base_model.model.{module}.lora_A.weight"].double()


def test_transformed_adapter_is_the_projection_and_carries_the_head(setup):
    t = "mrpc"
    out = str(setup["root"] / "posthoc" / t)
    result = call_op("transform", {"model": {"name_or_path": setup["base"]}, "adapter": setup["lora"][t], "init": setup["init"][t],
                        "out": out}, _ctx())
    assert result["rank"] == 4 and result["alpha"] == 16 and len(result["modules"]) == 4
    assert "classifier.out_proj.weight" in result["head"] and 0 < result["kept_energy"]["mean"] < 1
    source_model, source = _deltas(setup["lora"][t])
    new_model, new = _deltas(out)  # loads with PeftModel.from_pretrained
    for m in result["modules"]:
        a = _rows(setup["init"][t], m)
        expected = source[m] @ a.T @ a
        assert torch.linalg.matrix_norm(new[m] - expected) <= 1e-5 * torch.linalg.matrix_norm(expected)
    # the head is the fine-tuned one, not a fresh init
    src_head = dict(source_model.named_parameters())
    for name, p in new_model.named_parameters():
        if "modules_to_save.default" in name:
            assert torch.equal(p, src_head[name])
    assert json.load(open(os.path.join(out, "osrm_task.json")))["num_labels"] == 3
    # end to end: the loaded model equals base + dW A^T A with the source head
    ids = torch.tensor([[0, 5, 9, 17, 2]])
    manual = load_classifier(model_spec(setup["base"]), num_labels=3).eval()
    named = dict(manual.named_modules())
    with torch.no_grad():
        for m in result["modules"]:
            a = _rows(setup["init"][t], m)
            named[m].weight += (source[m] @ a.T @ a).float()
        for name, p in manual.named_parameters():
            if name.startswith("classifier."):
                p.copy_(src_head["base_model.model." + name.replace("classifier.", "classifier.modules_to_save.default.")])
        assert torch.allclose(new_model.eval()(input_ids=ids).logits, manual(input_ids=ids).logits, atol=1e-5)


def test_full_fine_tuned_model_transforms_from_its_weight_difference(setup):
    t = "sst2"
    torch.manual_seed(3)
    tuned = load_classifier(model_spec(setup["base"]), num_labels=3)
    base = load_classifier(model_spec(setup["base"]), num_labels=3)
    modules = [n for n, _ in tuned.named_modules() if n.endswith(("query", "value"))]
    named = dict(tuned.named_modules())
    with torch.no_grad():
        for m in modules:
            named[m].weight += 0.05 * torch.randn_like(named[m].weight)
    full = str(setup["root"] / "full" / t)
    tuned.save_pretrained(full)
    out = str(setup["root"] / "full-posthoc" / t)
    result = call_op("transform", {"model": {"name_or_path": setup["base"]}, "full_model": full, "init": setup["init"][t],
                        "out": out}, _ctx())
    _, new = _deltas(out)
    base_named = dict(base.named_modules())
    for m in result["modules"]:
        a = _rows(setup["init"][t], m)
        expected = (named[m].weight - base_named[m].weight).double() @ a.T @ a
        assert torch.linalg.matrix_norm(new[m] - expected) <= 1e-5 * torch.linalg.matrix_norm(expected)


def test_transform_errors_name_the_field(setup, tmp_path):
    t = "rte"
    bad = tmp_path / "bad"
    bad.mkdir()
    tensors = load_file(os.path.join(setup["lora"][t], "adapter_model.safetensors"))
    key = next(k for k in tensors if k.endswith("lora_A.weight"))
    tensors[key] = torch.zeros(4, 40)
    save_file(tensors, str(bad / "adapter_model.safetensors"))
    (bad / "adapter_config.json").write_text(open(os.path.join(setup["lora"][t], "adapter_config.json")).read())
    payload = {"model": {"name_or_path": setup["base"]}, "adapter": str(bad), "init": setup["init"][t], "out": str(tmp_path / "o")}
    with pytest.raises(ValueError, match=r"adapter: .* has shape 32x40 but the base model .* has 32x32"):
        call_op("transform", payload, _ctx())
    with pytest.raises(ValueError, match="init: the adapter folder .*none. does not exist"):
        call_op("transform", {**payload, "adapter": setup["lora"][t], "init": str(tmp_path / "none")}, _ctx())
    with pytest.raises(ValueError, match="init: .* is not an OSRM init adapter"):
        call_op("transform", {**payload, "adapter": setup["lora"][t], "init": setup["lora"]["sst2"]}, _ctx())
    with pytest.raises(ValueError, match="exactly one of adapter"):
        call_op("transform", {**payload, "full_model": "x"}, _ctx())


def test_diagnose_matrix_matches_dense_traces_and_shrinks_after_osrm(setup):
    root = setup["root"]
    before = call_op("diagnose", {"model": {"name_or_path": setup["base"]}, "adapters": [{"task": t, "path": setup["lora"][t]} for t in TASKS],
                       "stats": setup["stats"], "out": str(root / "diag-before")}, _ctx())
    assert before["tasks"] == TASKS and before["inputs"] == TASKS and len(before["matrix"]) == 3
    # dense reference: ||dW H^T||_F / ||W0 H^T||_F with ||M H^T||^2 = trace(M S M^T)
    _, deltas = _deltas(setup["lora"]["mrpc"])
    base = dict(load_classifier(model_spec(setup["base"]), num_labels=2).named_modules())
    stats = load_stats(setup["stats"]["rte"])
    ratios = []
    for m, dw in deltas.items():
        S = stats.second_moment(m).double()
        w0 = base[m].weight.detach().double()
        ratios.append(torch.sqrt(torch.trace(dw @ S @ dw.T) / torch.trace(w0 @ S @ w0.T)))
    expected = float(sum(ratios) / len(ratios))
    assert abs(before["matrix"][1][2] - expected) <= 1e-6 * expected
    for key in ("image", "table", "csv", "json"):
        assert os.path.getsize(before[key]) > 0
    assert open(before["image"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "| mrpc |" in open(before["table"]).read() and "sst2" in open(before["csv"]).readline()

    posthoc = {}
    for t in TASKS:
        posthoc[t] = call_op("transform", {"model": {"name_or_path": setup["base"]}, "adapter": setup["lora"][t], "init": setup["init"][t],
                                "out": str(root / "ph" / t)}, _ctx())["adapter"]
    after = call_op("diagnose", {"model": {"name_or_path": setup["base"]}, "adapters": [{"task": t, "path": posthoc[t]} for t in TASKS],
                      "stats": setup["stats"], "out": str(root / "diag-after")}, _ctx())
    assert after["off_diagonal_mean"] < 0.5 * before["off_diagonal_mean"]
    # relative to each adapter's own shift, OSRM removes more of the shift on the other tasks' inputs
    assert after["off_diagonal_mean"] / after["diagonal_mean"] < before["off_diagonal_mean"] / before["diagonal_mean"]


def test_diagnose_errors_name_the_field(setup, tmp_path):
    payload = {"model": {"name_or_path": setup["base"]}, "adapters": [{"task": "sst2", "path": setup["lora"]["sst2"]}],
               "stats": {**setup["stats"], "rte": str(tmp_path / "missing.safetensors")}, "out": str(tmp_path)}
    with pytest.raises(ValueError, match=r"stats.rte: statistics file .*missing.safetensors.* does not exist"):
        call_op("diagnose", payload, _ctx())
    with pytest.raises(ValueError, match=r"adapters\[0\].path: .* is not a PEFT adapter folder"):
        call_op("diagnose", {**payload, "stats": setup["stats"], "adapters": [{"task": "x", "path": str(tmp_path)}]}, _ctx())
    bad = tmp_path / "bad"
    bad.mkdir()
    tensors = load_file(os.path.join(setup["lora"]["sst2"], "adapter_model.safetensors"))
    key = next(k for k in tensors if k.endswith("lora_B.weight"))
    tensors[key] = torch.zeros(48, 4)
    save_file(tensors, str(bad / "adapter_model.safetensors"))
    (bad / "adapter_config.json").write_text(open(os.path.join(setup["lora"]["sst2"], "adapter_config.json")).read())
    with pytest.raises(ValueError, match=r"adapters\[0\].path: .* is 48x32 but the base model .* has 32x32"):
        call_op("diagnose", {**payload, "stats": setup["stats"], "adapters": [{"task": "sst2", "path": str(bad)}]}, _ctx())
