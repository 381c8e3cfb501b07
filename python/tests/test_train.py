"""The train op on tiny real models: it learns, its saved adapter reloads with plain PEFT and gives
the logits training saw, OSRM init/freezing do what they say, and divergence stops the run."""

import json
import os

import numpy as np
import pytest
import torch

from osrm_runtime.dispatch import run_op
from osrm_runtime.models import model_spec, load_tokenizer

FAST = {"lr": 1e-2, "batch_size": 8, "warmup_ratio": 0.0, "scheduler": "constant", "eval_batch_size": 64}


@pytest.fixture(scope="module")
def learnable_roberta(tiny_roberta, tmp_path_factory):
    """The tiny RoBERTa re-initialised with larger weights (std 0.2) and no dropout.

    With the default std 0.02 the attention output reaching the <s> token is ~1% of its residual,
    so the head sees almost no per-example signal and training sits on a plateau for a
    seed-dependent number of epochs (measured: 0.5 accuracy after 6 epochs for 2 of 3 seeds).
    At std 0.2 every seed tried passes 0.63 within 4 epochs on the sst2 fixture."""
    import shutil

    from transformers import AutoConfig, AutoModel

    out = tmp_path_factory.mktemp("models") / "learnable-roberta"
    shutil.copytree(tiny_roberta, out)
    config = AutoConfig.from_pretrained(tiny_roberta)
    config.initializer_range = 0.2
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(str(out))
    return str(out)


def payload(model, glue_dir, out, task="sst2", training=None, lora=None, init=None):
    p = {"model": {"name_or_path": model},
         "task": {"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}},
         "lora": {"rank": 8, "alpha": 16, **(lora or {})},
         "training": {**FAST, **(training or {})}, "out": str(out)}
    if init:
        p["init"] = init
    return p


def reload_logits(base, adapter, num_labels, texts):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, num_labels=num_labels),
                                      adapter).eval()
    tok = load_tokenizer(model_spec(base))
    with torch.no_grad():
        rows = []
        for a, b in texts:  # one at a time: no padding, so this path shares nothing with training's batching
            enc = tok(a, b, truncation=True, max_length=128, return_tensors="pt")
            rows.append(model(**enc).logits[0].numpy())
    return np.stack(rows)


def eval_texts(glue_dir, task="sst2"):
    from osrm_runtime.data import load_examples, task_spec

    ex = load_examples(task_spec({"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}}), "eval")
    return [(a, ex.text_b[i] if ex.text_b else None) for i, a in enumerate(ex.text_a)], ex


def test_tiny_model_beats_majority_and_the_saved_adapter_reloads_with_the_same_logits(learnable_roberta, glue_dir,
                                                                                      tmp_path):
    tiny_roberta = learnable_roberta
    out = tmp_path / "sst2"
    result = run_op("train", payload(tiny_roberta, glue_dir, out, training={"epochs": 5}))
    baseline = result["majority_baseline"]["score"]
    assert result["score"] > baseline + 0.1, result["history"]

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["score"] == result["score"] == max(h["score"] for h in metrics["history"])
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 6))
    assert all(h["samples_per_s"] > 0 and np.isfinite(h["loss"]) for h in metrics["history"])
    task = json.loads((out / "osrm_task.json").read_text())
    base = task.pop("base_model")
    assert base["name_or_path"] == os.path.abspath(tiny_roberta) and base["digest"].startswith("sha256:")
    assert task == {"task": "sst2", "num_labels": 2, "regression": False, "labels": ["0", "1"], "metric": "accuracy",
                    "id2label": {"0": "0", "1": "1"}, "label2id": {"0": 0, "1": 1},
                    "problem_type": "single_label_classification"}
    assert not (out / "checkpoints").exists()  # resume state is removed once the run is finished
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["task_type"] == "SEQ_CLS" and "classifier" in config["modules_to_save"]

    from safetensors.torch import load_file

    trained = load_file(str(out / "eval_predictions.safetensors"))["logits"].numpy()
    texts, examples = eval_texts(glue_dir)
    reloaded = reload_logits(tiny_roberta, str(out), 2, texts)
    assert np.abs(reloaded - trained).max() < 1e-5
    assert np.mean(reloaded.argmax(-1) == np.array(examples.labels)) == pytest.approx(result["score"])

    # Same payload, same out: the finished run is reported, not redone; a different one is refused.
    again = run_op("train", payload(tiny_roberta, glue_dir, out, training={"epochs": 5}))
    assert again["reused"] and again["score"] == result["score"]
    with pytest.raises(ValueError, match="different payload"):
        run_op("train", payload(tiny_roberta, glue_dir, out, training={"epochs": 4}))


def test_decoder_classifies_from_the_last_token_and_reloads(tiny_llama, glue_dir, tmp_path):
    out = tmp_path / "mrpc-llama"
    result = run_op("train", payload(tiny_llama, glue_dir, out, task="mrpc", training={"epochs": 1}))
    from safetensors.torch import load_file

    trained = load_file(str(out / "eval_predictions.safetensors"))["logits"].numpy()
    texts, _ = eval_texts(glue_dir, "mrpc")
    # Unpadded single examples vs training's right-padded batches: equal only if the classifier
    # reads the last real token, never a pad.
    assert np.abs(reload_logits(tiny_llama, str(out), 2, texts) - trained).max() < 1e-5
    assert set(result["metrics"]) == {"accuracy", "f1"}


def test_regression_task_reports_pearson_and_spearman(tiny_roberta, glue_dir, tmp_path):
    result = run_op("train", payload(tiny_roberta, glue_dir, tmp_path / "stsb", task="stsb", training={"epochs": 1}))
    assert set(result["metrics"]) == {"pearson", "spearman"}
    assert result["score"] == pytest.approx((result["metrics"]["pearson"] + result["metrics"]["spearman"]) / 2)
    task = json.loads((tmp_path / "stsb" / "osrm_task.json").read_text())
    assert task["regression"] and task["num_labels"] == 1


def test_keep_epoch_last_saves_the_final_epoch_whatever_it_scores(tiny_roberta, glue_dir, tmp_path):
    """Nothing chosen on the eval split: the saved adapter is the last epoch's, and its logits are
    the ones that epoch's evaluation scored."""
    out = tmp_path / "last"
    result = run_op("train", payload(tiny_roberta, glue_dir, out, task="rte",
                                     training={"epochs": 3, "keep_epoch": "last", "lr": 5e-3}))
    assert result["best_epoch"] == 3
    assert result["score"] == result["history"][-1]["score"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["epoch"] == 3


def _osrm_like_adapter(model, out, rank=8, blocks=("q", "v")):
    """A PEFT adapter with orthonormal A rows and B = 0, saved the way osrm_init saves one."""
    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import GaussianInit, LoraSetting
    from osrm_runtime.models import load_classifier
    from osrm_runtime.train.lora import build_lora_model

    torch.manual_seed(123)
    lora = parse_piece(LoraSetting, {"rank": rank, "alpha": 16, "blocks": list(blocks)})
    peft_model = build_lora_model(load_classifier(model_spec(model), 2), "roberta", lora, GaussianInit(kind="gaussian"))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if ".lora_A." in name:
                q, _ = torch.linalg.qr(torch.randn(p.shape[1], p.shape[0]))
                p.copy_(q.T)
    peft_model.save_pretrained(str(out))
    return str(out)


def test_osrm_init_is_copied_and_a_frozen_A_stays_exactly_as_initialised(tiny_roberta, glue_dir, tmp_path):
    from safetensors.torch import load_file

    adapter = _osrm_like_adapter(tiny_roberta, tmp_path / "init")
    init_tensors = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    out = tmp_path / "trained"
    run_op("train", payload(tiny_roberta, glue_dir, out, training={"epochs": 1}, lora={"freeze": "A"},
                            init={"kind": "osrm", "adapter": adapter}))
    trained = load_file(str(out / "adapter_model.safetensors"))
    a_keys = [k for k in init_tensors if ".lora_A." in k]
    b_keys = [k for k in init_tensors if ".lora_B." in k]
    assert a_keys and all(torch.equal(trained[k], init_tensors[k]) for k in a_keys)
    assert all(init_tensors[k].abs().max() == 0 and trained[k].abs().max() > 0 for k in b_keys)


def test_osrm_init_that_does_not_fit_is_a_clear_error(tiny_roberta, glue_dir, tmp_path):
    rank4 = _osrm_like_adapter(tiny_roberta, tmp_path / "r4", rank=4)
    with pytest.raises(ValueError, match=r"has shape \(4, 32\).*expects \(8, 32\)"):
        run_op("train", payload(tiny_roberta, glue_dir, tmp_path / "a", init={"kind": "osrm", "adapter": rank4}))
    q_only = _osrm_like_adapter(tiny_roberta, tmp_path / "q", blocks=("q",))
    with pytest.raises(ValueError, match=r"not in it \(first: .*value\.lora_A\.weight\)"):
        run_op("train", payload(tiny_roberta, glue_dir, tmp_path / "b", init={"kind": "osrm", "adapter": q_only}))
    with pytest.raises(ValueError, match="init.adapter"):
        run_op("train", payload(tiny_roberta, glue_dir, tmp_path / "c", init={"kind": "osrm"}))


def test_a_non_finite_loss_stops_the_run_naming_epoch_and_step(tiny_roberta, glue_dir, tmp_path):
    from osrm_runtime.train.recipe import TrainingDiverged

    out = tmp_path / "nan"
    # Adam's first update moves every weight by about lr: at 1e30 the next forward overflows.
    with pytest.raises(TrainingDiverged, match=r"epoch 1, optimizer step 2\b"):
        run_op("train", payload(tiny_roberta, glue_dir, out, training={"lr": 1e30, "epochs": 2}))
    assert not (out / "metrics.json").exists() and not (out / "checkpoints").exists()
    # Nothing was finished or checkpointed, so the same out may be retried with other settings.
    with pytest.raises(TrainingDiverged):
        run_op("train", payload(tiny_roberta, glue_dir, out, training={"lr": 2e30, "epochs": 1}))
