"""`osrm.variant: release` against an independent implementation, written here, of the released
code's steps: datasets' `shuffle(seed).select(range(k))` of the whole training split, `</s>` as
padding, left truncation, one max length of 128, a bf16 forward one example at a time, forward
hooks taking `x.mean(dim=1).mean(dim=0)` summed in fp32 and divided by the last batch index
(n - 1), and a full fp32 SVD of the other tasks' stacked means (in the release's GLUE order)."""

import os

import pytest
import torch
from safetensors.torch import load_file

from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.osrm.stats_cache import load_stats
from osrm_runtime.testing.calls import call_op

TASKS = ["sst2", "mrpc", "rte"]          # the release stacks them as mrpc, rte, sst2
RELEASE_ORDER = ["mrpc", "qnli", "qqp", "rte", "sst2", "mnli", "cola", "stsb"]
K, RANK, SEED = 24, 4, 7


def _task(glue_dir, name):
    return {"name": name, "source": {"kind": "glue", "task": name, "dir": glue_dir}, "max_train": 50}


def _release_means(model_dir, glue_dir, name):
    """The release's latent features of one task, step by step, with the libraries it uses."""
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    examples = load_examples(task_spec(_task(glue_dir, name)), "train", capped=False)  # reading the TSV is not under test
    columns = {"a": examples.text_a, "i": list(range(len(examples)))}
    if examples.text_b is not None:
        columns["b"] = examples.text_b
    picked = datasets.Dataset.from_dict(columns).shuffle(seed=SEED).select(range(K))

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "left"
    max_length = min(128, tokenizer.model_max_length)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.bfloat16, num_labels=2).eval()
    model.config.pad_token_id = model.config.eos_token_id

    sums, handles = {}, []
    for name_, module in model.named_modules():
        if name_.endswith((".query", ".value")):
            sums[name_] = torch.zeros(module.weight.shape[1])

            def hook(_m, inputs, _out, name_=name_):
                sums[name_] = sums[name_] + inputs[0].detach().mean(dim=1).mean(dim=0)
            handles.append(module.register_forward_hook(hook))
    batch_idx = -1
    with torch.no_grad():
        for batch_idx, row in enumerate(picked):
            texts = (row["a"],) if "b" not in row else (row["a"], row["b"])
            enc = tokenizer(*texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
            model(**enc)
    for h in handles:
        h.remove()
    return {m: s / batch_idx for m, s in sums.items()}


@pytest.fixture(scope="module")
def release_run(tiny_roberta, glue_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    files = {t: call_op("collect_stats", {
        "model": {"name_or_path": tiny_roberta}, "task": _task(glue_dir, t), "blocks": ["q", "v"],
        "osrm": {"variant": "release", "samples": K, "seed": SEED}, "cache_dir": str(root / "stats")})["file"]
        for t in TASKS}
    inits = {t: call_op("osrm_init", {"task": t, "stats": files, "lora": {"rank": RANK, "alpha": 8},
                                      "osrm": {"variant": "release"}, "out": str(root / t)})["adapter"] for t in TASKS}
    independent = {t: _release_means(tiny_roberta, glue_dir, t) for t in TASKS}
    return files, inits, independent


def test_the_release_means_are_the_independent_implementations(release_run):
    files, _, independent = release_run
    for task in TASKS:
        stats = load_stats(files[task])
        assert stats.meta["pooling"] == "release" and stats.meta["max_length"] == 128
        for module, expected in independent[task].items():
            ours = stats.mean(module, "release")
            assert torch.allclose(ours, expected, rtol=1e-5, atol=1e-6), (task, module, (ours - expected).abs().max())


def test_the_release_init_is_the_svd_null_space_of_the_other_tasks_stacked_means(release_run):
    _, inits, independent = release_run
    for target in TASKS:
        others = [t for t in RELEASE_ORDER if t in TASKS and t != target]
        saved = load_file(os.path.join(inits[target], "adapter_model.safetensors"))
        for module in independent[target]:
            x = torch.stack([independent[t][module] for t in others])           # (T-1) x d, fp32
            expected = torch.linalg.svd(x)[2].T[:, -RANK:].T                       # V[:, -rank:].T
            ours = saved[f"base_model.model.{module}.lora_A.weight"]
            assert torch.allclose(ours, expected, atol=1e-5), (target, module, (ours - expected).abs().max())
            assert (ours @ x.T).abs().max() < 1e-4 * x.abs().max()                # A h_j ~ 0 for the others' means


def test_release_and_means_differ_and_the_difference_is_measured(release_run, tiny_roberta, glue_dir, tmp_path):
    """The `means` variant (masked-pad-free sampling with osrm's own seeded sampler, <pad> padding,
    right truncation, fp32) gives other mean vectors, hence another A; the measure printed here is
    the cosine of each task's mean vectors and how much of the release means each A leaves."""
    files, inits, _ = release_run
    means_files = {t: call_op("collect_stats", {
        "model": {"name_or_path": tiny_roberta}, "task": _task(glue_dir, t), "blocks": ["q", "v"],
        "osrm": {"samples": K, "seed": SEED, "pooling": "all-positions"}, "cache_dir": str(tmp_path / "s")})["file"]
        for t in TASKS}
    target = "rte"
    means_init = call_op("osrm_init", {"task": target, "stats": means_files, "lora": {"rank": RANK, "alpha": 8},
                                       "osrm": {"variant": "means", "pooling": "all-positions"}, "out": str(tmp_path / "m")})
    release_a = load_file(os.path.join(inits[target], "adapter_model.safetensors"))
    means_a = load_file(os.path.join(means_init["adapter"], "adapter_model.safetensors"))
    cosines, leaks = [], []
    for module in means_init["modules"]:
        rel = [load_stats(files[t]).mean(module, "release") for t in TASKS if t != target]
        mea = [load_stats(means_files[t]).mean(module, "all-positions") for t in TASKS if t != target]
        cosines += [float(torch.nn.functional.cosine_similarity(r, m, dim=0)) for r, m in zip(rel, mea)]
        a = means_a[f"base_model.model.{module}.lora_A.weight"].float()
        x = torch.stack(rel)
        leaks.append(float(torch.linalg.matrix_norm(a @ x.T) / torch.linalg.matrix_norm(x)))
        assert not torch.allclose(a, release_a[f"base_model.model.{module}.lora_A.weight"], atol=1e-3)
    print(f"release vs means: mean-vector cosine min {min(cosines):.4f} mean {sum(cosines) / len(cosines):.4f}; "
          f"||A_means X_release^T|| / ||X_release|| mean {sum(leaks) / len(leaks):.2e} max {max(leaks):.2e}")
    assert min(cosines) < 0.999999  # other procedures: the vectors differ
