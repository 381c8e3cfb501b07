"""Data parallel training under torchrun, on 2 CPU processes with gloo (the path GPUs take with
nccl): each rank runs half the batches, gradients are all-reduced, rank 0 writes."""

import json
import os
import subprocess
import sys

PYTHON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_two_processes_share_the_batches_and_rank_0_writes(tiny_roberta, glue_dir, tmp_path):
    out = tmp_path / "ddp"
    payload = {"model": {"name_or_path": tiny_roberta},
               "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}},
               "training": {"epochs": 2, "batch_size": 8, "lr": 5e-3}, "out": str(out)}
    (tmp_path / "payload.json").write_text(json.dumps(payload))
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "osrm_runtime", "train", "--payload", str(tmp_path / "payload.json"),
                           "--result", str(tmp_path / "result.json")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    envelope = json.loads((tmp_path / "result.json").read_text())
    assert envelope["ok"], envelope
    result = envelope["value"]
    # 200 examples / 8 = 25 batches, padded to 26 and split: 13 optimizer steps per epoch.
    assert [h["step"] for h in result["history"]] == [13, 26]
    assert (out / "adapter_model.safetensors").exists() and (out / "metrics.json").exists()
    assert not (out / "checkpoints").exists()
