"""OSRM initialisation: orthonormal rows, the Ky Fan optimum, the null space of the means
variant, orthogonality to a known subspace, PEFT's format, reuse of cached statistics, errors."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from osrm_runtime.context import Context
from osrm_runtime.osrm import hooks, stats as stats_op
from osrm_runtime.osrm.hooks import InputMoments, Moments
from osrm_runtime.osrm.stats_cache import FORMAT, load_stats, save_stats
from osrm_runtime.osrm.subspace import others_second_moment
from osrm_runtime.testing.calls import call_op

TASKS = ["sst2", "mrpc", "rte"]
MODULES = ["enc.0.query", "enc.0.value", "enc.1.query", "enc.1.value"]


def _ctx():
    return Context("test")


def _synthetic(path, task, d, sample, n=400, means=None):
    """A statistics file whose inputs are `sample(n)` (n x d) at every layer."""
    inputs = {}
    for key in ("enc.0.query", "enc.1.query"):
        h = sample(n).double()
        inputs[key] = InputMoments(second_moment=h.T @ h, tokens=n, mean_masked_sum=h.mean(0) * 10, samples=10)
    moments = Moments(inputs, {m: m.replace("value", "query") for m in MODULES}, 10, "masked",
                      {m: [d, d] for m in MODULES})
    meta = {"format": FORMAT, "model": {"name_or_path": "synthetic", "family": "roberta", "dtype": "float32"},
            "task": {"name": task, "source": {}}, "blocks": ["q", "v"], "modules": moments.module_input,
            "shapes": moments.shapes, "conv1d": [], "k": 10, "seed": 0, "pooling": "masked", "max_length": 128,
            "samples": 10, "tokens": n, "warnings": []}
    save_stats(str(path), moments, meta)
    return str(path)


def _a(folder, module):
    return load_file(os.path.join(folder, "adapter_model.safetensors"))[f"base_model.model.{module}.lora_A.weight"].double()


def test_osrm_rows_are_orthogonal_to_a_subspace_where_the_other_tasks_live(tmp_path):
    torch.manual_seed(0)
    d, k = 32, 12
    basis = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0]
    inside = basis[:, :k]                         # the other tasks' inputs live in span(inside)
    stats = {"t0": _synthetic(tmp_path / "t0.safetensors", "t0", d, lambda n: torch.randn(n, d) * 3)}
    for t in ("t1", "t2"):
        stats[t] = _synthetic(tmp_path / f"{t}.safetensors", t, d, lambda n: torch.randn(n, k, dtype=torch.float64) @ inside.T)
    result = call_op("osrm_init", {"task": "t0", "stats": stats, "lora": {"rank": 8, "alpha": 16}, "out": str(tmp_path / "init")}, _ctx())
    assert result["modules"] == MODULES and result["inputs"] == 2 and result["others"] == ["t1", "t2"]
    for m in MODULES:
        a = _a(result["adapter"], m)
        assert a.shape == (8, d)
        assert torch.linalg.matrix_norm(a @ a.T - torch.eye(8, dtype=torch.float64)) < 1e-5
        assert torch.linalg.matrix_norm(a @ inside) < 1e-6
    gaussian = torch.randn(8, d, dtype=torch.float64) / d ** 0.5
    assert torch.linalg.matrix_norm(gaussian @ inside) > 0.1
    assert result["residual"]["max"] < 1e-12


def test_covariance_rows_reach_the_sum_of_the_smallest_eigenvalues(tiny_roberta, glue_dir, tmp_path):
    files = {}
    for task in TASKS:
        files[task] = call_op("collect_stats", 
            {"model": {"name_or_path": tiny_roberta}, "task": {"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}},
             "blocks": ["q", "v"], "osrm": {"samples": 30}, "batch_size": 16, "cache_dir": str(tmp_path / "cache")}, _ctx())["file"]
    for weighting in ("tokens", "equal"):
        out = tmp_path / weighting
        result = call_op("osrm_init", {"task": "sst2", "stats": files, "lora": {"rank": 4, "alpha": 8},
                            "osrm": {"weighting": weighting}, "out": str(out)}, _ctx())
        others = [load_stats(files[t]) for t in ("mrpc", "rte")]
        for m in result["modules"]:
            S = others_second_moment([s.second_moment(m) for s in others], [s.tokens(m) for s in others], weighting)
            a = _a(out, m)
            assert torch.linalg.matrix_norm(a @ a.T - torch.eye(4, dtype=torch.float64)) < 1e-5
            expected = torch.linalg.eigvalsh(S)[:4].sum()
            got = torch.trace(a @ S @ a.T)
            assert abs(got - expected) <= 1e-4 * abs(expected), (m, float(got), float(expected))
            # any other orthonormal A keeps more of the other tasks' energy
            q = torch.linalg.qr(torch.randn(32, 4, dtype=torch.float64))[0].T
            assert torch.trace(q @ S @ q.T) > got
    tokens_a, equal_a = _a(tmp_path / "tokens", result["modules"][0]), _a(tmp_path / "equal", result["modules"][0])
    assert torch.linalg.matrix_norm(tokens_a.T @ tokens_a - equal_a.T @ equal_a) > 1e-3  # the weighting matters


def test_means_variant_spans_the_null_space_of_the_other_tasks_means(tiny_roberta, glue_dir, tmp_path):
    files = {task: call_op("collect_stats", 
        {"model": {"name_or_path": tiny_roberta}, "task": {"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}},
         "osrm": {"samples": 20, "pooling": "all-positions"}, "batch_size": 10, "cache_dir": str(tmp_path)}, _ctx())["file"]
        for task in TASKS}
    for pooling in ("all-positions", "masked"):
        result = call_op("osrm_init", {"task": "rte", "stats": files, "lora": {"rank": 8}, "osrm": {"variant": "means", "pooling": pooling},
                            "out": str(tmp_path / pooling)}, _ctx())
        for m in result["modules"]:
            X = torch.stack([load_stats(files[t]).mean(m, pooling).double() for t in ("sst2", "mrpc")])
            a = _a(tmp_path / pooling, m)
            assert torch.linalg.matrix_norm(a @ a.T - torch.eye(8, dtype=torch.float64)) < 1e-5
            assert torch.linalg.matrix_norm(a @ X.T) < 1e-5 * torch.linalg.matrix_norm(X)
    with pytest.raises(ValueError, match=r"lora.rank 31 .*null space.*32 - 2 = 30"):
        call_op("osrm_init", {"task": "rte", "stats": files, "lora": {"rank": 31}, "osrm": {"variant": "means"},
                   "out": str(tmp_path / "x")}, _ctx())


def test_init_adapter_loads_into_peft_with_a_set_and_b_zero(tiny_roberta, glue_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    from osrm_runtime.models import model_spec, load_classifier

    files = {task: call_op("collect_stats", 
        {"model": {"name_or_path": tiny_roberta}, "task": {"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}},
         "blocks": ["q", "k", "v"], "osrm": {"samples": 10}, "cache_dir": str(tmp_path)}, _ctx())["file"] for task in TASKS}
    result = call_op("osrm_init", {"task": "mrpc", "stats": files, "lora": {"rank": 2, "alpha": 4, "blocks": ["q", "v"]},
                        "out": str(tmp_path / "init")}, _ctx())
    assert len(result["modules"]) == 4 and all(m.endswith(("query", "value")) for m in result["modules"])
    config = json.load(open(tmp_path / "init" / "adapter_config.json"))
    assert (config["r"], config["lora_alpha"], config["task_type"]) == (2, 4, "SEQ_CLS")
    assert sorted(config["target_modules"]) == ["query", "value"]
    # what the train op does: a fresh LoRA model from this config, then every saved factor by
    # PEFT's key name (the init has no head: the head is trained from scratch)
    model = get_peft_model(load_classifier(model_spec(tiny_roberta), num_labels=2),
                           LoraConfig.from_pretrained(str(tmp_path / "init")))
    saved = load_file(str(tmp_path / "init" / "adapter_model.safetensors"))
    state = {k.replace(".weight", ".default.weight"): v for k, v in saved.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and len(saved) == 8
    assert not [k for k in missing if "lora_" in k]
    named = dict(model.named_modules())
    for m in result["modules"]:
        layer = named[f"base_model.model.{m}"]
        assert torch.equal(layer.lora_A["default"].weight.double(), _a(tmp_path / "init", m))
        assert layer.lora_B["default"].weight.abs().max() == 0
    # the query and value of a layer read one input, so they get the same subspace
    q, v = result["modules"][0], result["modules"][1]
    assert torch.equal(_a(tmp_path / "init", q), _a(tmp_path / "init", v))
    with pytest.raises(ValueError, match="lora.blocks.*'intermediate.dense' has no statistics"):
        call_op("osrm_init", {"task": "mrpc", "stats": files, "lora": {"blocks": ["mlp"]}, "out": str(tmp_path / "y")}, _ctx())
    with pytest.raises(ValueError, match="lora.rank 40 is larger than the input dimension 32"):
        call_op("osrm_init", {"task": "mrpc", "stats": files, "lora": {"rank": 40}, "out": str(tmp_path / "y")}, _ctx())
    with pytest.raises(ValueError, match=r"stats.rte: statistics file .* does not exist"):
        call_op("osrm_init", {"task": "mrpc", "stats": {**files, "rte": str(tmp_path / "gone.safetensors")}, "out": str(tmp_path / "y")}, _ctx())
    with pytest.raises(ValueError, match="at least one other task"):
        call_op("osrm_init", {"task": "mrpc", "stats": {"mrpc": files["mrpc"]}, "out": str(tmp_path / "y")}, _ctx())


def test_initialising_every_task_collects_each_tasks_statistics_once(tiny_roberta, glue_dir, tmp_path, monkeypatch):
    calls = []
    real = hooks.collect_moments
    monkeypatch.setattr(hooks, "collect_moments", lambda *a, **k: calls.append(1) or real(*a, **k))
    for target in TASKS:  # as a planner does it: every init asks for all tasks' statistics
        files = {task: call_op("collect_stats", 
            {"model": {"name_or_path": tiny_roberta}, "task": {"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}},
             "osrm": {"samples": 10}, "cache_dir": str(tmp_path / "cache")}, _ctx())["file"] for task in TASKS}
        call_op("osrm_init", {"task": target, "stats": files, "lora": {"rank": 4}, "out": str(tmp_path / target)}, _ctx())
    assert len(calls) == len(TASKS)
