"""The shared core: model loading per family, module names, GLUE/file loading, batching, metrics."""

import json

import numpy as np
import pytest

from osrm_runtime import metrics
from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.data.batches import batch_order, encode, iterate_batches
from osrm_runtime.models import model_spec, adapted_module_names, family_of, load_classifier, load_tokenizer


def test_tiny_models_load_as_classifiers_and_name_their_modules(tiny_roberta, tiny_llama):
    for path, family, expected in ((tiny_roberta, "roberta", "query"), (tiny_llama, "llama", "q_proj")):
        spec = model_spec(path)
        assert family_of(spec) == family
        model = load_classifier(spec, num_labels=3)
        names = adapted_module_names(model, family, ["q", "v"])
        assert len(names) == 4 and names[0].endswith(expected)
        tok = load_tokenizer(spec)
        batch = tok(["good film", "a bad plot indeed"], padding=True, return_tensors="pt")
        assert model(**batch).logits.shape == (2, 3)


def test_unknown_block_and_unmatched_modules_are_clear_errors(tiny_roberta):
    model = load_classifier(model_spec(tiny_roberta), num_labels=2)
    with pytest.raises(ValueError, match="lora.blocks"):
        adapted_module_names(model, "roberta", ["attn"])
    with pytest.raises(ValueError, match="match no linear module"):
        adapted_module_names(model, "llama", ["q"])


def test_glue_folder_tasks_load_with_labels_and_pairs(glue_dir):
    sst2 = load_examples(task_spec({"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}}), "train")
    assert len(sst2) == 200 and sst2.text_b is None and set(sst2.labels) == {0, 1}
    mrpc = load_examples(task_spec({"name": "mrpc", "source": {"kind": "glue", "task": "mrpc", "dir": glue_dir},
                                         "max_eval": 50}), "eval")
    assert len(mrpc) == 50 and mrpc.text_b is not None
    stsb = load_examples(task_spec({"name": "stsb", "source": {"kind": "glue", "task": "stsb", "dir": glue_dir}}), "eval")
    assert stsb.regression and all(isinstance(x, float) for x in stsb.labels)
    cola = load_examples(task_spec({"name": "cola", "source": {"kind": "glue", "task": "cola", "dir": glue_dir}}), "train")
    assert len(cola) == 200


def test_file_tasks_name_missing_columns_and_bad_labels(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"t": f"text {i}", "y": "a" if i % 2 else "b"}) for i in range(10)))
    spec = {"name": "mine", "source": {"kind": "files", "train": str(train), "eval": str(train), "text": ["t"], "label": "y"}}
    ex = load_examples(task_spec(spec), "train")
    assert ex.label_names == ["a", "b"] and ex.num_labels == 2
    bad = dict(spec, source=dict(spec["source"], label="label"))
    with pytest.raises(ValueError, match="no column 'label'.*columns: t, y"):
        load_examples(task_spec(bad), "train")
    fixed = dict(spec, source=dict(spec["source"], labels=["a", "c"]))
    with pytest.raises(ValueError, match="not in the label set"):
        load_examples(task_spec(fixed), "train")
    with pytest.raises(ValueError, match="does not exist"):
        load_examples(task_spec(dict(spec, source=dict(spec["source"], train=str(tmp_path / "nope.csv")))), "train")


def test_dynamic_padding_and_length_grouping(tiny_roberta, glue_dir):
    tok = load_tokenizer(model_spec(tiny_roberta))
    ex = load_examples(task_spec({"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}}), "train")
    enc = encode(tok, ex, 128)
    widths = [b["input_ids"].shape[1] for b in iterate_batches(enc, 16, tok.pad_token_id, shuffle=True, seed=1,
                                                              group_by_length=True)]
    assert max(widths) <= max(len(s) for s in enc.input_ids)
    order = batch_order([len(s) for s in enc.input_ids], 16, True, 1, True)
    assert sorted(i for b in order for i in b) == list(range(len(ex)))
    with pytest.raises(ValueError, match="larger than the model's maximum"):
        encode(tok, ex, 100_000)


def test_metrics_match_scikit_learn_and_scipy():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, r2_score

    rng = np.random.default_rng(0)
    for trial in range(20):
        k = 2 + trial % 3
        gold = rng.integers(0, k, 200)
        pred = np.where(rng.random(200) < 0.6, gold, rng.integers(0, k, 200))
        assert metrics.accuracy(pred, gold) == pytest.approx(accuracy_score(gold, pred))
        assert metrics.matthews(pred, gold) == pytest.approx(matthews_corrcoef(gold, pred), abs=1e-12)
        if k == 2:
            assert metrics.f1_binary(pred, gold) == pytest.approx(f1_score(gold, pred))
        x = rng.normal(size=100)
        y = x + rng.normal(size=100)
        y_tied = np.round(y)
        assert metrics.pearson(x, y) == pytest.approx(pearsonr(x, y)[0])
        assert metrics.spearman(x, y_tied) == pytest.approx(spearmanr(x, y_tied)[0])
        assert metrics.r2(x, y) == pytest.approx(r2_score(y, x))
    result = metrics.score("pearson_spearman", [0.1, 0.5, 0.3], [0.0, 1.0, 0.2])
    assert result["score"] == pytest.approx((result["metrics"]["pearson"] + result["metrics"]["spearman"]) / 2)
    with pytest.raises(ValueError, match="not one of"):
        metrics.score("bleu", [1], [1])
