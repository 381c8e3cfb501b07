"""Task data from every source: the hub path (with a stand-in `datasets`), GLUE folders, files;
the paper's caps with seeded subsampling; and the checks that name what is wrong."""

import json
import sys
import types

import pytest

from osrm_runtime.data import load_examples, task_spec


def glue(task, glue_dir=None, **extra):
    return task_spec({"name": task, "source": {"kind": "glue", "task": task, "dir": glue_dir}, **extra})


def files(train, eval_=None, **source):
    return task_spec({"name": "mine", "source": {"kind": "files", "train": str(train),
                                                      "eval": str(eval_ or train), **source}})


def test_hub_split_names_columns_and_unlabelled_rows(monkeypatch):
    calls = []
    rows = {"premise": ["p1", "p2", "p3"], "hypothesis": ["h1", "h2", "h3"], "label": [0, 2, 1]}

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return rows

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    ex = load_examples(glue("mnli"), "eval")
    assert calls == [("nyu-mll/glue", "mnli", "validation_matched")]
    assert ex.text_a == ["p1", "p2", "p3"] and ex.text_b == ["h1", "h2", "h3"] and ex.labels == [0, 2, 1]
    assert ex.label_names == ["entailment", "neutral", "contradiction"]
    load_examples(glue("mnli"), "eval_mismatched")
    assert calls[-1][2] == "validation_mismatched"
    rows["label"] = [0, -1, 1]  # the hub's marker for an unlabelled (test) row
    with pytest.raises(ValueError, match=r"1 labels outside the label set 0\.\.2 \(first at example 2: -1\)"):
        load_examples(glue("mnli"), "train")


def test_caps_subsample_with_a_seed_and_keep_file_order(glue_dir):
    full = load_examples(glue("sst2", glue_dir), "train")
    a = load_examples(glue("sst2", glue_dir, max_train=50), "train", seed=1)
    b = load_examples(glue("sst2", glue_dir, max_train=50), "train", seed=1)
    c = load_examples(glue("sst2", glue_dir, max_train=50), "train", seed=2)
    assert len(a) == 50 and a.text_a == b.text_a and a.text_a != c.text_a
    positions = [full.text_a.index(t) for t in a.text_a]
    assert positions == sorted(positions)
    assert len(load_examples(glue("sst2", glue_dir, max_eval=30), "eval")) == 30
    assert len(load_examples(glue("sst2", glue_dir), "train")) == 200  # default caps (105k/15k) keep all


def test_glue_folder_missing_split_lists_what_is_there(glue_dir, tmp_path):
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\na b\t1\n")
    with pytest.raises(ValueError, match=r"dev.tsv does not exist \(the folder has: train.tsv\)"):
        load_examples(glue("sst2", str(tmp_path)), "eval")
    with pytest.raises(ValueError, match="only MNLI has an eval_mismatched split"):
        load_examples(glue("sst2", glue_dir), "eval_mismatched")


def test_text_pairs_from_csv_tsv_and_jsonl_agree(tmp_path):
    rows = [{"a": f"first {i}", "b": f"second {i}", "y": ["no", "yes"][i % 2]} for i in range(6)]
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f'"{r["a"]}, quoted",{r["b"]},{r["y"]}\n' for r in rows))
    (tmp_path / "t.tsv").write_text("a\tb\ty\n" + "".join(f'{r["a"]}, quoted\t{r["b"]}\t{r["y"]}\n' for r in rows))
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({**r, "a": r["a"] + ", quoted"}) + "\n" for r in rows))
    loaded = [load_examples(files(tmp_path / f"t.{ext}", text=["a", "b"], label="y"), "train")
              for ext in ("csv", "tsv", "jsonl")]
    for ex in loaded:
        assert ex.text_a == loaded[0].text_a and ex.text_b == loaded[0].text_b and ex.labels == loaded[0].labels
    assert loaded[0].text_a[0] == "first 0, quoted" and loaded[0].label_names == ["no", "yes"]
    (tmp_path / "t.txt").write_text("a,y\n")
    with pytest.raises(ValueError, match="set task.source.format"):
        load_examples(files(tmp_path / "t.txt", text=["a"], label="y"), "train")


def test_bad_rows_are_named(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("s1\ts2\ty\nfine\talso fine\t1\nonly one field\n")
    with pytest.raises(ValueError, match=r"d.tsv line 3: 1 field\(s\), but the header has 3 \(s1, s2, y\)"):
        load_examples(files(p, text=["s1", "s2"], label="y"), "train")
    p.write_text("s1\ts2\ty\nfine\talso fine\t1\nfine\t \t0\n")
    with pytest.raises(ValueError, match="1 empty texts in its second text field 's2' \\(line 3\\)"):
        load_examples(files(p, text=["s1", "s2"], label="y"), "train")
    p.write_text("s1\ty\na\t0.5\nb\tnan\n")
    with pytest.raises(ValueError, match="d.tsv has 1 row\\(s\\) with an empty or NaN label in column 'y' \\(line 3;"):
        load_examples(files(p, text=["s1"], label="y", regression=True), "train")
    p.write_text("s1\ty\na\t0.5\nb\thigh\n")
    with pytest.raises(ValueError, match="d.tsv line 3 \\(row 2\\): label 'high' is not a number"):
        load_examples(files(p, text=["s1"], label="y", regression=True), "train")
    p.write_text("s1\ty\na\t0.5\nb\tinf\n")
    with pytest.raises(ValueError, match="line 3 \\(row 2\\): label 'inf' is not a finite number"):
        load_examples(files(p, text=["s1"], label="y", regression=True), "train")


def test_eval_labels_must_be_in_the_train_label_set(tmp_path):
    (tmp_path / "train.csv").write_text("t,y\na,pos\nb,neg\n")
    (tmp_path / "eval.csv").write_text("t,y\nc,pos\nd,neutral\n")
    with pytest.raises(ValueError, match=r"eval.csv line 3 \(row 2\): label 'neutral' is not in the label set \['neg', 'pos'\], "
                                         r"the labels of the training file .*train.csv .*training never saw"):
        load_examples(files(tmp_path / "train.csv", tmp_path / "eval.csv", text=["t"], label="y"), "eval")
