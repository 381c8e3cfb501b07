"""Bad input to the readers: every error names the file (and the line, row or tensor) and says
what to do, is a ValueError (exit code 2 through the CLI), keeps the library's own text out of the
message (it is in `detail`, for the job log), and nothing is ever unpickled."""

import errno
import json
import os
import pickle
import re
import shutil
import subprocess
import sys

import pytest

from osrm_runtime import atomic, models
from osrm_runtime.adapters import AdapterFolder
from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.dispatch import _storage_failure, run_op
from osrm_runtime.errors import InputError
from osrm_runtime.merge.sources import Backbone, WeightFiles
from osrm_runtime.models import check_model, load_classifier, load_config, load_tokenizer, model_spec
from osrm_runtime.osrm.stats_cache import load_stats
from osrm_runtime.testing.adapters import make_adapter

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")


class _Marker:
    """Unpickling this creates a file: what a malicious pytorch_model.bin would do, harmlessly."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickle_folder(src, dst, marker, weights="pytorch_model.bin"):
    """A model folder like `src` (config, tokenizer) whose only weights are a malicious pickle."""
    os.makedirs(dst)
    for name in ("config.json", *TOKENIZER_FILES):
        if os.path.isfile(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), dst)
    with open(os.path.join(dst, weights), "wb") as f:
        pickle.dump({"roberta.embeddings.word_embeddings.weight": _Marker(str(marker))}, f)
    return str(dst)


def copy_model(src, dst, edit=None):
    shutil.copytree(src, dst)
    if edit:
        edit(str(dst))
    return str(dst)


# ---------------------------------------------------------------------------------------------
# nothing is unpickled


def test_no_code_path_can_unpickle():
    """No unpickler anywhere in the runtime or the benchmarks: torch.load, pickle.load(s) or its
    Unpickler, joblib.load, numpy's allow_pickle, weights_only=False."""
    pattern = re.compile(r"torch\.load\b|pickle\.(loads?|Unpickler)\b|joblib\.load\b|allow_pickle\s*=\s*True"
                         r"|weights_only\s*=\s*False")
    hits = []
    for root in ("python/osrm_runtime", "bench"):
        for folder, _, names in os.walk(os.path.join(REPO, root)):
            for name in names:
                if name.endswith((".py", ".ts", ".js")):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as f:
                        for number, line in enumerate(f, 1):
                            if pattern.search(line):
                                hits.append(f"{os.path.relpath(path, REPO)}:{number}: {line.strip()}")
    assert hits == []


def test_every_model_from_pretrained_requires_safetensors():
    """Every `X.from_pretrained(...)` of weights in the runtime passes use_safetensors=True
    (configs and tokenizers hold no weights); models.from_pretrained is the one that does it."""
    import ast

    no_weights = ("AutoConfig", "AutoTokenizer", "RobertaTokenizerFast", "PreTrainedTokenizerFast")
    missing = []
    for folder, _, names in os.walk(os.path.join(REPO, "python/osrm_runtime")):
        for name in (n for n in names if n.endswith(".py")):
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "from_pretrained"):
                    continue
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                safe = any(k.arg == "use_safetensors" and getattr(k.value, "value", None) is True for k in node.keywords)
                if owner not in no_weights and owner != "models" and not safe:
                    missing.append(f"{os.path.relpath(path, REPO)}:{node.lineno}")
    assert missing == []


def test_a_malicious_pickle_folder_is_refused_unopened(tiny_roberta, tmp_path, monkeypatch):
    import torch

    marker = tmp_path / "pwned"
    folder = pickle_folder(tiny_roberta, tmp_path / "evil", marker)
    # Belt and braces: were anything to reach an unpickler, the test would fail loudly.
    def forbidden(*args, **kwargs):
        raise AssertionError("an unpickler was called")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    spec = model_spec(folder)
    for load in (lambda: check_model(spec), lambda: load_config(spec), lambda: load_tokenizer(spec),
                 lambda: load_classifier(spec, 2), lambda: WeightFiles(folder, "fine-tuned model")):
        with pytest.raises(InputError) as info:
            load()
        message = str(info.value)
        assert f"{folder} holds its weights as pytorch_model.bin (a pickle)" in message
        assert "never loads pickles" in message and "save_pretrained" in message
        assert "weights_only" not in message
    with pytest.raises(ValueError, match=r"holds its weights as pytorch_model.bin"):
        run_op("train", {"model": {"name_or_path": folder}, "out": str(tmp_path / "out"),
                         "task": {"name": "t", "source": {"kind": "files", "train": "x.csv", "eval": "x.csv",
                                                          "text": ["t"], "label": "y"}}})
    assert not marker.exists() and not (tmp_path / "out").exists()
    monkeypatch.undo()
    # The payload is live: unpickling a copy (in another process) does create its marker.
    live = tmp_path / "live-marker"
    pickle_folder(tiny_roberta, tmp_path / "evil2", live)
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
                    str(tmp_path / "evil2" / "pytorch_model.bin")], check=True, cwd=os.path.dirname(__file__))
    assert live.exists()


def test_a_pickled_adapter_is_refused_unopened(tiny_roberta, tmp_path):
    adapter = make_adapter(tiny_roberta, str(tmp_path / "a"), "t")
    os.remove(os.path.join(adapter, "adapter_model.safetensors"))
    marker = tmp_path / "pwned"
    with open(os.path.join(adapter, "adapter_model.bin"), "wb") as f:
        pickle.dump(_Marker(str(marker)), f)
    with pytest.raises(InputError, match=r"the adapter .* holds its weights as adapter_model.bin \(a pickle\)"):
        AdapterFolder(adapter, "init.adapter")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# model folders


def test_model_folder_errors_name_the_folder_and_what_was_found(tiny_roberta, tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(InputError, match=rf"model.name_or_path: the model folder {missing} does not exist"):
        check_model(model_spec(missing))
    no_config = copy_model(tiny_roberta, tmp_path / "no-config", lambda d: os.remove(os.path.join(d, "config.json")))
    with pytest.raises(InputError, match=r"has no config.json .*it holds: .*model.safetensors"):
        check_model(model_spec(no_config))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"has no model weights \(model.safetensors expected; it holds: nothing\)"):
        check_model(model_spec(str(empty)))
    with pytest.raises(InputError, match=r"is a file, not a model folder .*give the folder that holds it"):
        check_model(model_spec(os.path.join(tiny_roberta, "model.safetensors")))
    adapter = make_adapter(tiny_roberta, str(tmp_path / "adapter"), "t")
    with pytest.raises(InputError, match="is a PEFT adapter folder, not a model"):
        check_model(model_spec(adapter))


def test_corrupt_safetensors_are_refused_before_loading(tiny_roberta, tmp_path):
    weights = os.path.join(tiny_roberta, "model.safetensors")
    size = os.path.getsize(weights)

    def truncate(folder):
        with open(os.path.join(folder, "model.safetensors"), "r+b") as f:
            f.truncate(size - 100)

    def garbage(folder):
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(b"\x00\x01garbage" * 100)

    for name, edit in (("truncated", truncate), ("garbage", garbage)):
        folder = copy_model(tiny_roberta, tmp_path / name, edit)
        with pytest.raises(InputError) as info:
            load_classifier(model_spec(folder), 2)
        assert str(info.value) == (f"model.name_or_path: {folder}/model.safetensors is not a valid safetensors file: "
                                   f"its header cannot be read (the file is truncated or corrupt); download or "
                                   f"save the model again")
        assert "SafetensorError" in info.value.detail  # the library's text, for the log


def test_weights_are_checked_against_the_config(tiny_roberta, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    def edit_config(**changes):
        def edit(folder):
            path = os.path.join(folder, "config.json")
            config = json.load(open(path))
            json.dump({**config, **changes}, open(path, "w"))
        return edit

    wider = copy_model(tiny_roberta, tmp_path / "wider", edit_config(hidden_size=64, intermediate_size=128))
    with pytest.raises(InputError, match=r"tensor '.*' in .*wider/model.safetensors has shape \[(\d+, )?32\], but "
                                         r".*wider/config.json describes \[(\d+, )?64\] for it"):
        check_model(model_spec(wider))

    def quantize(folder):
        path = os.path.join(folder, "model.safetensors")
        tensors = load_file(path)
        key = next(k for k in tensors if k.endswith("query.weight"))
        tensors[key] = tensors[key].to(torch.int8)
        save_file(tensors, path)

    int8 = copy_model(tiny_roberta, tmp_path / "int8", quantize)
    with pytest.raises(InputError, match=r"tensor '.*query.weight' in .* is I8; a floating-point weight is expected"):
        check_model(model_spec(int8))

    def foreign(folder):
        save_file({"something.else": torch.zeros(3)}, os.path.join(folder, "model.safetensors"))

    other = copy_model(tiny_roberta, tmp_path / "other", foreign)
    with pytest.raises(InputError, match=r"none of the 1 tensors in model.safetensors is a weight of the roberta model"):
        check_model(model_spec(other))

    def drop_one(folder):
        path = os.path.join(folder, "model.safetensors")
        tensors = load_file(path)
        save_file({k: v for k, v in tensors.items() if not k.endswith("layer.1.output.dense.weight")}, path)

    partial = copy_model(tiny_roberta, tmp_path / "partial", drop_one)
    (warning,) = check_model(model_spec(partial)).warnings
    assert "1 of the backbone's" in warning and "layer.1.output.dense.weight" in warning


def test_a_sharded_index_must_name_shards_that_exist(tiny_roberta, tmp_path):
    def shard(folder):
        os.rename(os.path.join(folder, "model.safetensors"), os.path.join(folder, "model-00001-of-00002.safetensors"))
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}, f)

    folder = copy_model(tiny_roberta, tmp_path / "sharded", shard)
    with pytest.raises(InputError, match=r"index.json lists shard\(s\) model-00002-of-00002.safetensors that .* does not have"):
        check_model(model_spec(folder))


def test_a_hub_id_that_cannot_be_reached_is_named(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as info:
        load_config(model_spec("no-such-org/no-such-model"))
    message = str(info.value)
    assert message.startswith("model.name_or_path: 'no-such-org/no-such-model' is not a local folder")
    assert "Repo id must be" not in message and info.value.detail


# ---------------------------------------------------------------------------------------------
# data files


def files(train, eval_=None, **extra):
    source = {k: extra.pop(k) for k in list(extra) if k in ("text", "label", "labels", "regression", "format")}
    return task_spec({"name": "t", "source": {"kind": "files", "train": str(train), "eval": str(eval_ or train),
                                              "text": ["text"], "label": "y", **source}, **extra})


def test_a_file_that_is_not_utf8_names_offset_and_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,y\ngood,pos\nbad,neg\ncaf\xe9 noir,pos\n")
    with pytest.raises(InputError) as info:
        load_examples(files(path), "train")
    assert str(info.value).startswith(f"task 't': {path} is not UTF-8 text: byte 0xe9 at byte offset 27 (line 4, "
                                      f"byte 4 of the line) is not valid UTF-8. Re-encode the file as UTF-8")
    path.write_bytes(b"\xef\xbb\xbftext,y\ngood,pos\nbad,neg\n")  # a byte-order mark is fine
    assert load_examples(files(path), "train").text_a == ["good", "bad"]


def test_malformed_csv_and_jsonl_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,y\ngood,pos\n"never closed,neg\nbad,neg\n')
    with pytest.raises(InputError, match=r"d.csv line 3: malformed CSV: a quoted field that starts on this line is never closed"):
        load_examples(files(path), "train")
    path.write_text('text,y\ngood,pos\n"quoted" after,neg\n')
    with pytest.raises(InputError, match=r"d.csv line 3: malformed CSV: text follows a closing quote"):
        load_examples(files(path), "train")
    path.write_text("text,y\ngood,pos\nan, unquoted comma,neg\n")
    with pytest.raises(InputError, match=r"d.csv line 3: 3 field\(s\), but the header has 2 \(text, y\); quote a text"):
        load_examples(files(path), "train")
    path.write_text('text,y\n"a text\nover two lines",pos\nbad,neg\n"x",,\n')
    with pytest.raises(InputError, match=r"d.csv line 5: 3 field\(s\)"):  # lines count the multi-line field
        load_examples(files(path), "train")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "y": "pos"}\n\n{"text": "b", "y": "neg"\n')
    with pytest.raises(InputError, match=r"d.jsonl line 3: not valid JSON .*each line must be one JSON object"):
        load_examples(files(jsonl), "train")
    jsonl.write_text('{"text": "a", "y": "pos"}\n["b", "neg"]\n')
    with pytest.raises(InputError, match=r"d.jsonl line 2: a JSON list where an object"):
        load_examples(files(jsonl), "train")


def test_empty_or_nan_labels_are_refused_or_dropped_and_counted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,y\na,pos\nb,NaN\nc,neg\nd,\ne,pos\nf,neg\n")
    with pytest.raises(InputError) as info:
        load_examples(files(path), "train")
    assert str(info.value).startswith(f"task 't': {path} has 2 row(s) with an empty or NaN label in column 'y' "
                                      f"(line 3, 5; the first holds 'NaN')")
    kept = load_examples(files(path, invalid_labels="drop"), "train")
    assert kept.label_names == ["neg", "pos"] and kept.num_labels == 2  # NaN never becomes a class
    assert kept.text_a == ["a", "c", "e", "f"] and kept.dropped == 2 and kept.dropped_lines == [3, 5]
    # JSON null is a missing label too; a value the task lists as a label is a class.
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "y": "NA"}\n{"text": "b", "y": null}\n{"text": "c", "y": "pos"}\n')
    with pytest.raises(InputError, match=r"1 row\(s\) with an empty or NaN label .*line 2; the first holds None"):
        load_examples(files(jsonl, labels=["NA", "pos"]), "train")
    assert load_examples(files(jsonl, labels=["NA", "pos"], invalid_labels="drop"), "train").labels == [0, 1]


def test_eval_labels_training_never_saw_are_refused_with_the_set(tmp_path):
    (tmp_path / "train.csv").write_text("text,y\na,pos\nb,neg\n")
    (tmp_path / "eval.csv").write_text("text,y\nc,pos\nd,neutral\ne,mixed\n")
    with pytest.raises(InputError) as info:
        load_examples(files(tmp_path / "train.csv", tmp_path / "eval.csv"), "eval")
    message = str(info.value)
    assert message.startswith(f"task 't': {tmp_path}/eval.csv line 3 (row 2): label 'neutral' is not in the label set "
                              f"['neg', 'pos'], the labels of the training file {tmp_path}/train.csv (2 row(s), line 3, 4")
    assert "training never saw: 'mixed', 'neutral'" in message


def test_the_train_op_reports_dropped_rows(tiny_roberta, tmp_path):
    rows = "".join(f"good film {i},pos\nawful plot {i},neg\n" for i in range(8))
    (tmp_path / "train.csv").write_text("text,y\n" + rows + "empty label,\nnan label,nan\n")
    (tmp_path / "eval.csv").write_text("text,y\n" + rows + "eval nan,NaN\n")
    lines = []

    class Ctx:
        def progress(self, *a, **k):
            pass

        def log(self, message):
            lines.append(message)

    from osrm_runtime.testing.calls import call_op

    result = call_op("train", {"model": {"name_or_path": tiny_roberta}, "out": str(tmp_path / "out"),
                               "task": {"name": "t", "invalid_labels": "drop",
                                        "source": {"kind": "files", "train": str(tmp_path / "train.csv"),
                                                   "eval": str(tmp_path / "eval.csv"), "text": ["text"], "label": "y"}},
                               "training": {"epochs": 1, "batch_size": 8}}, Ctx())
    assert result["dropped_rows"] == {"train": 2, "eval": 1}
    assert json.load(open(tmp_path / "out" / "metrics.json"))["dropped_rows"] == {"train": 2, "eval": 1}
    assert json.load(open(tmp_path / "out" / "osrm_task.json"))["num_labels"] == 2
    assert "task 't': dropped 2 train row(s) with an empty or NaN label (line 18, 19)" in " ".join(lines)


# ---------------------------------------------------------------------------------------------
# adapters and statistics


def test_adapter_factors_must_agree_with_each_other_and_the_config(tiny_roberta, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    adapter = make_adapter(tiny_roberta, str(tmp_path / "a"), "t", rank=4)
    weights = os.path.join(adapter, "adapter_model.safetensors")
    tensors = load_file(weights)
    key = next(k for k in tensors if k.endswith("lora_B.weight"))
    save_file({**tensors, key: torch.zeros(tensors[key].shape[0], 6)}, weights)
    with pytest.raises(InputError, match=r"has lora_A of rank 4 \(shape \[4, 32\]\) but lora_B of rank 6"):
        AdapterFolder(adapter)
    save_file(tensors, weights)
    config = json.load(open(os.path.join(adapter, "adapter_config.json")))
    json.dump({**config, "r": 8}, open(os.path.join(adapter, "adapter_config.json"), "w"))
    with pytest.raises(InputError, match=r"has rank 4, but .*adapter_config.json declares r = 8"):
        AdapterFolder(adapter)
    with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
        f.write('{"r": 4,\n "peft_type": LORA}')
    with pytest.raises(InputError, match=r"adapter_config.json is not valid JSON \(line 2, column 15"):
        AdapterFolder(adapter)


def test_a_merge_refuses_adapters_of_another_shape(tiny_roberta, tmp_path):
    from osrm_runtime.testing import make_tiny_model
    from osrm_runtime.testing.calls import call_op

    wide = make_tiny_model(str(tmp_path / "wide"), hidden=48, intermediate=64)
    a = make_adapter(tiny_roberta, str(tmp_path / "a"), "a")
    b = make_adapter(wide, str(tmp_path / "b"), "b")
    config = os.path.join(b, "adapter_config.json")
    json.dump({**json.load(open(config)), "base_model_name_or_path": tiny_roberta}, open(config, "w"))
    with pytest.raises(InputError, match=r"'b' \(.*\) module 'encoder.layer.0.attention.self.query.weight': its LoRA "
                                         r"update B @ A is 48 x 48 .* but the base model's weight is 32 x 32"):
        call_op("merge", {"model": {"name_or_path": tiny_roberta}, "out": str(tmp_path / "m"),
                          "adapters": [{"task": "a", "path": a}, {"task": "b", "path": b}],
                          "method": {"name": "task_arithmetic"}})
    assert not (tmp_path / "m").exists()


def test_statistics_files_are_checked(tmp_path):
    import torch
    from safetensors.torch import save_file

    meta = {"format": 1, "modules": {"q": "k0"}, "shapes": {"q": [8, 8]}, "model": {}, "task": {"name": "t"}}
    path = tmp_path / "s.safetensors"
    save_file({"k0.second_moment": torch.zeros(8, 4), "k0.tokens": torch.tensor(3)}, str(path),
              metadata={"osrm_stats": json.dumps(meta)})
    with pytest.raises(InputError, match=r"'k0.second_moment' is of shape \[8, 4\], but module 'q' takes 8 inputs"):
        load_stats(str(path))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(InputError, match=r"s.safetensors is not a valid safetensors file: its header cannot be read"):
        load_stats(str(path))


# ---------------------------------------------------------------------------------------------
# OS errors on outputs


def test_a_failed_write_names_its_path_and_leaves_no_temporary(tmp_path):
    target = str(tmp_path / "out.json")

    def full_disk(tmp):
        open(tmp, "w").close()
        raise OSError(errno.ENOSPC, "No space left on device")  # write() names no file

    with pytest.raises(OSError) as info:
        atomic.write_file_atomic(target, full_disk)
    assert info.value.errno == errno.ENOSPC and info.value.filename == target
    assert os.listdir(tmp_path) == []

    class SafetensorError(Exception):
        pass

    def safetensors_full(tmp):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    with pytest.raises(OSError) as info:
        with atomic.staged_folder(str(tmp_path / "adapter")) as staging:
            safetensors_full(os.path.join(staging, "adapter_model.safetensors"))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "adapter")
    assert os.listdir(tmp_path) == []


def test_storage_failures_cross_the_boundary_with_code_and_path():
    full = _storage_failure(OSError(errno.ENOSPC, "No space left on device", "/runs/x/out.partial/a.json"))
    assert full == {"message": "/runs/x/out.partial/a.json: no space left on the device (ENOSPC); free space there or "
                               "choose another output folder",
                    "bad_input": False, "os_error": {"code": "ENOSPC", "path": "/runs/x/out.partial/a.json"}}
    read_only = _storage_failure(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out"))
    assert read_only["bad_input"] is True and read_only["os_error"]["code"] == "EROFS"
    # A failed write() names no file: the op's output folder is named instead.
    unnamed = _storage_failure(OSError(errno.ENOSPC, "No space left on device"), "/runs/x/out.partial")
    assert unnamed["message"].startswith("/runs/x/out.partial: no space left on the device (ENOSPC)")
    assert _storage_failure(OSError(errno.ENOENT, "No such file", "/x")) is None
    assert _storage_failure(ValueError("x")) is None


def test_backbone_of_a_checked_config_matches_the_check(tiny_roberta):
    """The merge's Backbone and check_model's skeleton agree on the names of the backbone."""
    prefix, shapes, _ = models.expected_shapes(load_config(model_spec(tiny_roberta)))
    backbone = Backbone.of(load_config(model_spec(tiny_roberta)))
    assert prefix == backbone.prefix and shapes == backbone.shapes


def test_a_full_disk_in_an_op_reaches_the_envelope_with_the_path(tiny_roberta, tmp_path):
    """A real full disk (a 16 KiB tmpfs, where this machine lets the test mount one)."""
    from osrm_runtime.dispatch import dispatch

    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux): the full-disk case is not run")
    try:
        out = str(mount / "adapter")
        envelope = json.loads(dispatch("make_test_adapter", json.dumps({"model": tiny_roberta, "out": out, "task": "t"})))
        assert envelope["ok"] is False and envelope["bad_input"] is False
        assert envelope["os_error"]["code"] == "ENOSPC" and envelope["os_error"]["path"].startswith(out)
        assert envelope["message"] == (f"{envelope['os_error']['path']}: no space left on the device (ENOSPC); free "
                                       f"space there or choose another output folder")
        assert os.listdir(mount) == []  # the staged folder is gone: a full disk gets no fuller
    finally:
        subprocess.run(["umount", str(mount)], check=False)
