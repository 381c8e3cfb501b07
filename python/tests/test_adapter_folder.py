"""What a trained adapter folder gives someone without osrm: a standard PEFT adapter with its
head, named labels, a model card whose loading snippet works with transformers + peft alone (and
reproduces osrm's evaluation logits), ordinary file modes, TensorBoard event files; and a merge
that recognises a moved base by its content digest."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.testing.adapters import make_adapter
from osrm_runtime.testing.calls import call_op


@pytest.fixture(scope="module")
def trained(tiny_roberta, glue_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "sst2"
    spec = {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}, "max_eval": 40}
    result = call_op("train", {
        "model": {"name_or_path": tiny_roberta}, "task": spec, "lora": {"rank": 4, "blocks": ["q", "v"]},
        "training": {"lr": 1e-2, "epochs": 2, "batch_size": 8, "eval_batch_size": 16, "seed": 3},
        "out": str(out),
        "provenance": {"command": "osrm run configs/x.yaml", "config": "/somewhere/configs/x.yaml", "tool": "osrm-merge 0.1.0"},
    })
    return {"out": str(out), "result": result, "spec": spec}


def test_the_folder_names_its_labels_and_has_a_model_card(trained, tiny_roberta):
    out = trained["out"]
    task = json.load(open(os.path.join(out, "osrm_task.json")))
    names = task["labels"]
    assert len(names) == 2
    assert task["id2label"] == {"0": names[0], "1": names[1]} and task["label2id"] == {names[0]: 0, names[1]: 1}
    assert task["problem_type"] == "single_label_classification"
    assert task["base_model"]["name_or_path"] == os.path.abspath(tiny_roberta)
    assert task["base_model"]["digest"].startswith("sha256:")
    assert json.load(open(os.path.join(out, "adapter_config.json")))["base_model_name_or_path"] == os.path.abspath(tiny_roberta)
    assert not os.path.exists(os.path.join(out, "config.json"))  # it would make transformers look for full weights here
    card = open(os.path.join(out, "README.md")).read()
    score = trained["result"]["score"]
    for expected in ("library_name: peft", f"accuracy {score:.4f}", "rank 4", "blocks q, v", "seed 3", "gaussian",
                     "`osrm run configs/x.yaml`", "/somewhere/configs/x.yaml", task["base_model"]["digest"], "sst2"):
        assert expected in card, expected


def test_ordinary_file_modes(trained):
    for root, dirs, files in os.walk(trained["out"]):
        assert os.stat(root).st_mode & 0o777 == 0o755, root
        for name in files:
            assert os.stat(os.path.join(root, name)).st_mode & 0o777 == 0o644, name


def test_the_cards_snippet_loads_it_with_transformers_and_peft_alone(trained, tmp_path):
    """The three lines from the card, run in a fresh interpreter with no osrm on its path, give the
    logits osrm's evaluation recorded (eval_predictions.safetensors) and named labels."""
    out = trained["out"]
    card = open(os.path.join(out, "README.md")).read()
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    examples = load_examples(task_spec(trained["spec"]), "eval", 3)
    (tmp_path / "texts.json").write_text(json.dumps(list(examples.text_a)))
    script = snippet + "\n".join([
        "import json, torch",
        "from transformers import AutoTokenizer",
        f"texts = json.load(open({str(tmp_path / 'texts.json')!r}))",
        "tokenizer = AutoTokenizer.from_pretrained(model.peft_config['default'].base_model_name_or_path)",
        "model.eval()",
        "with torch.no_grad():",
        "    logits = model(**tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors='pt')).logits",
        "print(json.dumps({'logits': logits.tolist(), 'labels': model.config.id2label}))",
    ])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=out, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    import torch

    recorded = load_file(os.path.join(out, "eval_predictions.safetensors"))["logits"]
    diff = float((torch.tensor(printed["logits"]) - recorded).abs().max())
    print(f"adapter loaded by transformers + peft alone: max |logit difference| to osrm's evaluation = {diff:.3g}")
    assert diff <= 1e-5
    names = json.load(open(os.path.join(out, "osrm_task.json")))["labels"]
    assert printed["labels"] == {"0": names[0], "1": names[1]}  # JSON keys; int keys in the model's config


def test_tensorboard_event_files_hold_loss_lr_throughput_and_the_eval_metric(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(trained["out"], "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/samples_per_s", "eval/accuracy", "train/epoch_loss"} <= tags
    history = trained["result"]["history"]
    assert [e.step for e in events.Scalars("eval/accuracy")] == [h["step"] for h in history]
    assert [e.value for e in events.Scalars("eval/accuracy")] == pytest.approx([h["score"] for h in history])
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, history[-1]["step"] + 1))


def test_a_merge_recognises_a_moved_base_by_content_and_names_a_different_one(tiny_roberta, glue_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_roberta, base)
    adapters = [{"task": n, "path": make_adapter(str(base), str(tmp_path / n), n, seed=i)} for i, n in enumerate(("a", "b"))]
    moved = tmp_path / "elsewhere" / "base"
    os.makedirs(moved.parent)
    os.rename(base, moved)
    merged = call_op("merge", {"model": {"name_or_path": str(moved)}, "adapters": adapters,
                               "method": {"name": "task_arithmetic"}, "out": str(tmp_path / "m")})
    assert merged["tasks"] == ["a", "b"]

    other = tmp_path / "other"
    shutil.copytree(moved, other)
    weights = load_file(str(other / "model.safetensors"))
    from safetensors.torch import save_file

    key = sorted(weights)[0]
    save_file({**weights, key: weights[key] * 2}, str(other / "model.safetensors"))
    with pytest.raises(ValueError, match=rf"adapter 'a'.*made on base '{base}' \(content digest sha256:.*not there any more \(looked at {base}\), not on the merge's base '{other}' \(content digest"):
        call_op("merge", {"model": {"name_or_path": str(other)}, "adapters": adapters,
                          "method": {"name": "task_arithmetic"}, "out": str(tmp_path / "m2")})
