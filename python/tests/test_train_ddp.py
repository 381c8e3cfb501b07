"""Data parallel training under torchrun, on 2 CPU processes with gloo (the path GPUs take with
nccl). The global batch is kept: each rank runs half of every micro-batch, DDP averages the
gradients, and the adapter equals the one-process run of the same global batch; rank 0 writes."""

import json
import os
import shutil
import subprocess
import sys

import pytest

PYTHON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def without_dropout(model_dir: str, out: str) -> str:
    """A copy of the model with dropout off: with it on, one process and two draw different masks
    for the same examples, and no two runs could be compared."""
    shutil.copytree(model_dir, out)
    path = os.path.join(out, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    with open(path, "w") as f:
        json.dump(config, f)
    return out


def launch(payload: dict, work, processes: int) -> subprocess.Popen:
    work.mkdir(parents=True, exist_ok=True)
    (work / "payload.json").write_text(json.dumps(payload))
    # One thread per process: CPU reductions are then reproducible, and 3 processes share 2 cores.
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    return subprocess.Popen(launcher + ["-m", "osrm_runtime", "train", "--payload", str(work / "payload.json"),
                                        "--result", str(work / "result.json")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def outcome(proc: subprocess.Popen, work) -> dict:
    _, stderr = proc.communicate(timeout=600)
    assert (work / "result.json").exists(), stderr[-3000:]
    return json.loads((work / "result.json").read_text())


def test_two_processes_of_half_the_batch_equal_one_process_of_the_whole(tiny_roberta, glue_dir, tmp_path):
    from safetensors.torch import load_file

    model = without_dropout(tiny_roberta, str(tmp_path / "model"))

    def payload(out, devices):
        return {"model": {"name_or_path": model},
                "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}},
                "training": {"epochs": 1, "batch_size": 8, "lr": 5e-3, "precision": "fp32", "devices": devices},
                "out": str(out)}

    # 200 examples / 8 = 25 optimizer steps either way.
    two = launch(payload(tmp_path / "ddp", 2), tmp_path / "w-ddp", 2)
    one = launch(payload(tmp_path / "single", 1), tmp_path / "w-single", 1)
    ddp, single = outcome(two, tmp_path / "w-ddp"), outcome(one, tmp_path / "w-single")
    assert ddp["ok"] and single["ok"], (ddp, single)
    assert [h["step"] for h in ddp["value"]["history"]] == [h["step"] for h in single["value"]["history"]] == [25]
    # The loss is the mean over the global batch in both: the same up to float summation order.
    assert ddp["value"]["history"][0]["loss"] == pytest.approx(single["value"]["history"][0]["loss"], rel=1e-5)
    a = load_file(str(tmp_path / "ddp" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "single" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and len(a) > 0
    difference = max(float((a[k] - b[k]).abs().max()) for k in a)
    moved = max(float(b[k].abs().max()) for k in b if "lora_B" in k)
    print(f"\nDDP (2 gloo processes x 4) vs one process x 8, fp32, 25 steps: max |adapter difference| "
          f"{difference:.3e} (largest LoRA B entry {moved:.3e})")
    assert moved > 1e-3  # training really moved B away from 0, so equality is not trivial
    assert difference < 1e-5
    assert (tmp_path / "ddp" / "metrics.json").exists() and not (tmp_path / "ddp" / "checkpoints").exists()


def test_a_batch_the_processes_cannot_share_evenly_is_refused_by_name(tiny_roberta, glue_dir, tmp_path):
    payload = {"model": {"name_or_path": tiny_roberta},
               "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}},
               "training": {"epochs": 1, "batch_size": 7, "devices": 2}, "out": str(tmp_path / "out")}
    proc = launch(payload, tmp_path / "w", 2)
    envelope = outcome(proc, tmp_path / "w")
    assert proc.returncode != 0
    assert not envelope["ok"] and envelope["bad_input"]
    assert "training.batch_size 7 is not a multiple of the 2 processes" in envelope["message"]
