"""The demo task suite built from the @stdlib npm data packages.

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
    not all(os.path.isdir(os.path.join(NODE_MODULES, p, "data")) for p in corpus.PACKAGES.values()),
    reason="the @stdlib data packages are not installed (npm install)")


@pytest.fixture(scope="module")
def mini_node_modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("node_modules")
    for name, package in corpus.PACKAGES.items():
        src = os.path.join(NODE_MODULES, package)
        dst = os.path.join(root, package)
        os.makedirs(os.path.join(dst, "data"))
        shutil.copy(os.path.join(src, "datapackage.json"), dst)
        data = os.path.join(src, "data")
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
        else:
            counts = t["label_counts"]["train"]
            assert max(counts.values()) - min(counts.values()) <= 1  # balanced
            assert t["baseline"]["accuracy"] == pytest.approx(0.5, abs=0.05)


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
                assert isinstance(r["label"], (int, float)) and -5 <= r["label"] <= 5
            else:
                assert r["label"] in t["labels"]


def test_emails_and_addresses_split_by_document(built, mini_node_modules):
    out, index = built
    held_out_text = {a.text for a in corpus.sotu_addresses(mini_node_modules) if corpus.held_out(a.key, 42)}
    pretraining = {text for source, text in corpus.pretraining_documents(mini_node_modules, 42)}
    assert held_out_text and not held_out_text & pretraining  # eval documents never pretrain the base
    era = next(t for t in index["tasks"] if t["name"] == "sotu_era")
    for r in _rows(os.path.join(out, era["files"]["eval"])):
        assert any(r["text"][:60] in text for text in held_out_text)


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
    names = ["sotu_party", "sotu_pair", "subject_body"]
    extra = demo_tasks.build(mini_node_modules, str(tmp_path / "x"), 42, tasks=names, sizes=SIZES)
    assert [t["name"] for t in extra["tasks"]] == names
    with pytest.raises(ValueError, match="unknown demo task"):
        demo_tasks.build(NODE_MODULES, str(tmp_path), 42, tasks=["nope"])
