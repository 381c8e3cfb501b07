"""The demo task suite built from the npm data packages.

The full packages take a minute to parse (6,046 emails), so these tests build from a miniature
node_modules holding a slice of the real package files, with small split sizes.
"""

import filecmp
import json
import os
import shutil

import pytest

from osrm_runtime.demo import corpus
from osrm_runtime.testing.calls import call_op
from osrm_runtime.demo import tasks as demo_tasks
from osrm_runtime.data.examples import load_examples, task_spec

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_MODULES = os.path.join(REPO, "node_modules")
SIZES = {"train": 40, "eval": 16}

pytestmark = pytest.mark.skipif(
    not all(os.path.isdir(os.path.join(NODE_MODULES, p, corpus.DATA_FOLDER.get(n, "data")))
            for n, p in corpus.PACKAGES.items()),
    reason="the npm data packages are not installed (npm install)")


@pytest.fixture(scope="module")
def mini_node_modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("node_modules")
    for name, package in corpus.PACKAGES.items():
        src = os.path.join(NODE_MODULES, package)
        dst = os.path.join(root, package)
        sub = corpus.DATA_FOLDER.get(name, "data")
        os.makedirs(os.path.join(dst, sub))
        for meta in ("datapackage.json", "package.json"):
            if os.path.isfile(os.path.join(src, meta)):
                shutil.copy(os.path.join(src, meta), dst)
        data = os.path.join(src, sub)
        if name == "spam-assassin":
            for group in sorted(os.listdir(data)):
                if os.path.isdir(os.path.join(data, group)):
                    os.makedirs(os.path.join(dst, "data", group))
                    for f in sorted(x for x in os.listdir(os.path.join(data, group)) if x.endswith(".json"))[:60]:
                        shutil.copy(os.path.join(data, group, f), os.path.join(dst, "data", group, f))
        elif name == "sotu":
            # every 5th address: both centuries, both parties, some held out
            files = sorted(f for f in os.listdir(data) if f.endswith(".json") and f[0].isdigit())[::5]
            for f in files:
                shutil.copy(os.path.join(data, f), os.path.join(dst, "data", f))
        elif name == "moby-dick":
            for f in ("chapter_1.json", "chapter_2.json"):
                shutil.copy(os.path.join(data, f), os.path.join(dst, "data", f))
        elif name == "wordnet":
            # the licence header and the first 600 synsets of each part of speech
            for part in ("noun", "verb", "adj", "adv"):
                with open(os.path.join(data, f"data.{part}"), encoding="utf-8") as f:
                    lines = f.readlines()
                head = [x for x in lines if x.startswith("  ")]
                with open(os.path.join(dst, sub, f"data.{part}"), "w", encoding="utf-8") as f:
                    f.writelines(head + lines[len(head):len(head) + 600])
        elif name == "cmudict":
            with open(os.path.join(data, "dict.json"), encoding="utf-8") as f:
                entries = json.load(f)
            keep = dict(sorted(entries.items())[::40])  # every 40th headword, about 3,300
            with open(os.path.join(dst, sub, "dict.json"), "w", encoding="utf-8") as f:
                json.dump(keep, f)
        else:
            for f in os.listdir(data):
                shutil.copy(os.path.join(data, f), os.path.join(dst, "data", f))
    return str(root)


@pytest.fixture(scope="module")
def built(mini_node_modules, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo") / "a")
    index = call_op("build_demo_tasks", {"node_modules": mini_node_modules, "out": out, "seed": 42,
                                         "sizes": SIZES})
    return out, index


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_same_seed_gives_identical_files(built, mini_node_modules, tmp_path):
    out, index = built
    again = str(tmp_path / "b")
    demo_tasks.build(mini_node_modules, again, 42, sizes=SIZES)
    for entry in index["tasks"]:
        for rel in entry["files"].values():
            assert filecmp.cmp(os.path.join(out, rel), os.path.join(again, rel), shallow=False), rel
    assert filecmp.cmp(os.path.join(out, "tasks.json"), os.path.join(again, "tasks.json"), shallow=False)
    other = str(tmp_path / "c")
    demo_tasks.build(mini_node_modules, other, 7, tasks=["name_gender"], sizes=SIZES)
    assert _rows(os.path.join(other, "name_gender", "train.jsonl")) != _rows(os.path.join(out, "name_gender",
                                                                                           "train.jsonl"))


def test_index_describes_every_task(built):
    out, index = built
    assert [t["name"] for t in index["tasks"]] == list(demo_tasks.BUILDERS)
    assert len(index["tasks"]) >= 4
    for t in index["tasks"]:
        assert set(t) >= {"name", "files", "text", "label", "labels", "regression", "metric", "sizes", "baseline"}
        assert t["sizes"]["train"] > 0 and t["sizes"]["eval"] > 0
        if t["regression"]:
            assert t["metric"] == "r2" and t["labels"] is None
            # A constant prediction (the train mean) explains no variance: R^2 <= 0 on any split.
            assert t["baseline"]["r2"] <= 1e-9 and t["baseline"]["pearson"] is None
            assert t["baseline"]["kind"] == "train_mean"
        else:
            assert t["baseline"]["kind"] == "majority_class" and t["baseline"]["label"] in t["labels"]
            counts = t["label_counts"]["train"]
            assert max(counts.values()) - min(counts.values()) <= 1  # balanced
            assert t["baseline"]["accuracy"] == pytest.approx(1 / len(t["labels"]), abs=0.05)
        assert t["package"] and t["source"]
    # 6 to 8 tasks, at least one regression
    assert 6 <= len(index["tasks"]) <= 8
    assert any(t["regression"] for t in index["tasks"])


def test_no_overlap_and_labels_in_label_set(built):
    out, index = built
    for t in index["tasks"]:
        train = _rows(os.path.join(out, t["files"]["train"]))
        evals = _rows(os.path.join(out, t["files"]["eval"]))
        key = lambda r: tuple(r[c] for c in t["text"])
        assert not {key(r) for r in train} & {key(r) for r in evals}, t["name"]
        assert len({key(r) for r in train}) == len(train)
        for r in train + evals:
            assert all(isinstance(r[c], str) and r[c].strip() for c in t["text"])
            if t["regression"]:
                assert isinstance(r["label"], (int, float)) and -5 <= r["label"] <= 15
            else:
                assert r["label"] in t["labels"]


def test_no_two_tasks_share_an_input(built):
    out, index = built
    assert index["shared_inputs"] == {}
    texts = {}
    for t in index["tasks"]:
        rows = _rows(os.path.join(out, t["files"]["train"])) + _rows(os.path.join(out, t["files"]["eval"]))
        texts[t["name"]] = {tuple(r[c] for c in t["text"]) for r in rows}
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not texts[a] & texts[b], (a, b)
    # the word-level tasks do not share a word either (a template aside)
    def words(name, prefix):
        return {r[0][len(prefix):-1].lower() if prefix else r[0] for r in texts[name]}
    names_ = words("name_gender", "The name is ")
    afinn = words("afinn_sentiment", "The word is ")
    syll = words("cmudict_syllables", "")
    assert not names_ & afinn and not names_ & syll and not afinn & syll


def test_building_refuses_suite_tasks_that_share_inputs(mini_node_modules, tmp_path, monkeypatch):
    monkeypatch.setitem(demo_tasks.BUILDERS, "sotu_era", demo_tasks.EXTRA_BUILDERS["sotu_era"])
    with pytest.raises(RuntimeError, match="share"):
        demo_tasks.build(mini_node_modules, str(tmp_path), 42, tasks=["sotu_year", "sotu_era"],
                          sizes={"train": 100000, "eval": 100000})  # whole pools: they overlap


def test_emails_and_addresses_split_by_document(built, mini_node_modules):
    out, index = built
    held_out_text = {a.text for a in corpus.sotu_addresses(mini_node_modules) if corpus.held_out(a.key, 42)}
    pretraining = [text for source, text in corpus.pretraining_documents(mini_node_modules, 42)]
    assert held_out_text and not held_out_text & set(pretraining)  # eval documents never pretrain the base
    year = next(t for t in index["tasks"] if t["name"] == "sotu_year")
    for r in _rows(os.path.join(out, year["files"]["eval"])):
        assert any(r["text"][:60] in text for text in held_out_text)
    # no eval input of a passage task occurs verbatim anywhere in the pretraining corpus
    found = demo_tasks.eval_texts_in_corpus(out, pretraining)
    assert set(found) == {"spam", "sotu_year", "wordnet_pos"}
    assert all(v["eval"] > 0 and v["in_corpus"] == 0 for v in found.values()), found
    # and its train inputs do (the check can fail)
    spam = next(t for t in index["tasks"] if t["name"] == "spam")
    train = _rows(os.path.join(out, spam["files"]["train"]))
    blob = "\n".join(pretraining)
    assert sum(r["text"] in blob for r in train) > len(train) // 2


def test_files_load_with_the_files_loader(built):
    out, index = built
    for t in index["tasks"]:
        spec = task_spec(demo_tasks.task_payload(out, t))
        train, evals = load_examples(spec, "train"), load_examples(spec, "eval")
        assert len(train) == t["sizes"]["train"] and len(evals) == t["sizes"]["eval"]
        assert (train.text_b is not None) == (len(t["text"]) == 2)
        assert train.num_labels == (1 if t["regression"] else len(t["labels"]))


def test_op_is_registered_and_checks_its_payload(tmp_path, mini_node_modules):
    from osrm_runtime.registry import resolve

    from osrm_runtime.demo import ops as demo_ops
    from osrm_runtime.testing.calls import call_op

    assert resolve("build_demo_tasks") is demo_ops.build_demo_tasks
    with pytest.raises(ValueError, match="build_demo_tasks: out: is required"):
        call_op("build_demo_tasks", {"node_modules": NODE_MODULES, "seed": 42})
    # the tasks kept out of the suite still build by name
    names = ["sotu_era", "afinn_valence"]
    extra = demo_tasks.build(mini_node_modules, str(tmp_path / "x"), 42, tasks=names, sizes=SIZES)
    assert [t["name"] for t in extra["tasks"]] == names
    with pytest.raises(ValueError, match="unknown demo task"):
        demo_tasks.build(NODE_MODULES, str(tmp_path), 42, tasks=["nope"])


def test_check_fills_every_training_field_and_splits_a_dev_slice_from_train(built, tmp_path):
    from osrm_runtime.demo import check

    cfg = {"training": {"lr": [2e-3, 1e-3], "epochs": 4, "batch_size": 32, "grad_accum": 1, "warmup_ratio": 0.06,
                        "scheduler": "linear", "weight_decay": 0, "gradient_checkpointing": False,
                        "precision": "fp32", "seed": 42, "group_by_length": True, "eval_batch_size": 128,
                        "per_task": {"epochs": {"name_gender": 6}, "lr": {"name_gender": 3e-3}}}}
    t = check.training_for(cfg, "name_gender", 7)
    assert t["epochs"] == 6 and t["lr"] == 3e-3 and t["seed"] == 7
    assert check.training_for(cfg, "spam", 7)["lr"] == 2e-3  # a sweep axis: its first point
    assert set(t) == set(cfg["training"]) - {"per_task"}
    out, index = built
    entry = next(e for e in index["tasks"] if e["name"] == "spam")
    dev = check.dev_split(out, entry, str(tmp_path), 42)
    train = _rows(os.path.join(tmp_path, dev["files"]["train"]))
    held = _rows(os.path.join(tmp_path, dev["files"]["eval"]))
    original = _rows(os.path.join(out, entry["files"]["train"]))
    assert len(held) == round(0.2 * len(original)) and len(train) + len(held) == len(original)
    assert sorted(map(json.dumps, train + held)) == sorted(map(json.dumps, original))
