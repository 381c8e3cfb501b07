"""Resuming for real: a training process killed with SIGKILL in its second epoch, run again,
continues after epoch 1 and ends exactly where an uninterrupted run with the same seed ends; one
stopped with SIGTERM mid-epoch writes a checkpoint at that step, and its rerun ends bit for bit
where the uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from osrm_runtime.train import checkpoint as ckpt

PYTHON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def start(payload: dict, work, stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    work.mkdir(parents=True, exist_ok=True)
    payload_file, result_file = work / "payload.json", work / "result.json"
    payload_file.write_text(json.dumps(payload))
    # One thread: CPU float reductions are then bitwise reproducible across the runs compared.
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.Popen([sys.executable, "-m", "osrm_runtime", "train", "--payload", str(payload_file),
                             "--result", str(result_file)], env=env, stdout=subprocess.DEVNULL,
                            stderr=stderr)
    return proc, str(result_file)


def finish(proc: subprocess.Popen, result_file: str) -> dict:
    assert proc.wait(timeout=600) == 0
    envelope = json.loads(open(result_file).read())
    assert envelope["ok"], envelope
    return envelope["value"]


def test_sigkill_mid_epoch_then_rerun_matches_an_uninterrupted_run(tiny_roberta, glue_dir, tmp_path):
    def payload(out):
        return {"model": {"name_or_path": tiny_roberta},
                "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}},
                "training": {"lr": 5e-3, "epochs": 3, "batch_size": 8}, "out": str(out)}

    # Both runs go at once: the uninterrupted one is the reference.
    reference_proc, reference_result = start(payload(tmp_path / "reference"), tmp_path / "w-ref")
    out = tmp_path / "killed"
    proc, result_file = start(payload(out), tmp_path / "w1")
    pointer = out / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 300
    while not pointer.exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert json.loads(pointer.read_text())["epoch"] == 1
    assert not (out / "metrics.json").exists()
    folder = out / "checkpoints" / "epoch-1"
    # No pickles anywhere: tensors as safetensors, the rest JSON.
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "optimizer.safetensors",
                                                       "rng.safetensors", "state.json", "trainable.safetensors"]

    resumed = finish(*start(payload(out), tmp_path / "w2"))
    reference = finish(reference_proc, reference_result)
    assert resumed["resumed_from_epoch"] == 1 and reference["resumed_from_epoch"] is None
    assert resumed["best_epoch"] == reference["best_epoch"]
    assert resumed["metrics"] == reference["metrics"]
    for a, b in zip(resumed["history"], reference["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["metrics"] == b["metrics"]
    from safetensors.torch import load_file

    mine = load_file(str(out / "adapter_model.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "adapter_model.safetensors"))
    assert mine.keys() == theirs.keys()
    assert max(float((mine[k] - theirs[k]).abs().max()) for k in mine) < 1e-6

    # TensorBoard: the resumed run appended to the killed run's folder; what the killed attempt had
    # logged after its checkpoint is purged, so every step appears once, as in the uninterrupted run.
    assert len(os.listdir(out / "tensorboard")) == 2  # one event file per attempt
    killed, uninterrupted = tensorboard_scalars(out, "train/loss"), tensorboard_scalars(tmp_path / "reference", "train/loss")
    assert [s for s, _ in killed] == [s for s, _ in uninterrupted] == list(range(1, len(uninterrupted) + 1))
    assert [v for _, v in killed] == pytest.approx([v for _, v in uninterrupted], rel=1e-5)
    epochs = tensorboard_scalars(out, "eval/accuracy")
    assert [s for s, _ in epochs] == [h["step"] for h in resumed["history"]]


def tensorboard_scalars(out, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_sigterm_mid_epoch_checkpoints_at_that_step_and_the_rerun_is_bit_identical(tiny_roberta, glue_dir, tmp_path):
    def payload(out):
        # 200 examples / 8: 25 optimizer steps per epoch; a checkpoint every 4 steps besides.
        return {"model": {"name_or_path": tiny_roberta},
                "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}},
                "training": {"lr": 5e-3, "epochs": 2, "batch_size": 8, "checkpoint_every": "4 steps"},
                "out": str(out)}

    reference_proc, reference_result = start(payload(tmp_path / "reference"), tmp_path / "w-ref")
    out = tmp_path / "stopped"
    log = open(tmp_path / "stopped.log", "w+")
    proc, result_file = start(payload(out), tmp_path / "w1", stderr=log)
    pointer = out / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 300
    while not (pointer.exists() and json.loads(pointer.read_text())["in_epoch"] is not None):
        assert proc.poll() is None, "the run ended before its first mid-epoch checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first = json.loads(pointer.read_text())
    assert first["dir"] == f"step-{first['step']}" and first["step"] % 4 == 0 and first["epoch"] == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 1  # stopped, not finished: the envelope says why
    envelope = json.loads(open(result_file).read())
    assert envelope["type"] == "TrainingStopped" and "SIGTERM" in envelope["message"]
    log.seek(0)
    assert "SIGTERM received; finishing this optimizer step and writing a checkpoint" in log.read()
    # The checkpoint is at the step it stopped, not the last interval's: nothing is lost.
    stopped = json.loads(pointer.read_text())
    assert stopped["in_epoch"] is not None and stopped["step"] >= first["step"]
    state = json.loads((out / "checkpoints" / stopped["dir"] / "state.json").read_text())
    assert state["position"]["groups"] == stopped["in_epoch"] and state["step"] == stopped["step"]
    assert not (out / "metrics.json").exists()

    resumed = finish(*start(payload(out), tmp_path / "w2"))
    reference = finish(reference_proc, reference_result)
    # Resumed inside an epoch: no epoch had finished if it stopped in epoch 1.
    assert resumed["resumed_from_epoch"] == stopped["epoch"] - 1
    assert resumed["history"][0]["step"] == reference["history"][0]["step"] == 25
    assert [(h["loss"], h["metrics"]) for h in resumed["history"]] == [(h["loss"], h["metrics"]) for h in reference["history"]]
    from safetensors.torch import load_file

    mine = load_file(str(out / "adapter_model.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "adapter_model.safetensors"))
    assert mine.keys() == theirs.keys()
    assert all(bool((mine[k] == theirs[k]).all()) for k in mine)  # bit for bit


def test_checkpoints_are_written_every_n_steps_or_minutes_and_at_each_epoch_end(tiny_roberta, glue_dir, tmp_path, monkeypatch):
    from osrm_runtime.dispatch import run_op

    saved = []
    real = ckpt.save_checkpoint

    def spy(out, epoch, state, *args, step=None, in_epoch=None):
        saved.append((step, in_epoch))
        return real(out, epoch, state, *args, step=step, in_epoch=in_epoch)

    monkeypatch.setattr(ckpt, "save_checkpoint", spy)

    def train(every, out):
        saved.clear()
        run_op("train", {"model": {"name_or_path": tiny_roberta},
                         "task": {"name": "sst2", "source": {"kind": "glue", "task": "sst2", "dir": glue_dir}, "max_train": 64},
                         "training": {"epochs": 2, "batch_size": 8, "checkpoint_every": every}, "out": str(out)})
        return list(saved)

    # 64 examples / 8: 8 steps per epoch. Every 3 steps: 3 and 6 in epoch 1, 9, 12 and 15 in epoch
    # 2; the last step of an epoch is covered by the epoch's own checkpoint (in_epoch None).
    assert train("3 steps", tmp_path / "steps") == [(3, 3), (6, 6), (8, None), (9, 1), (12, 4), (15, 7), (16, None)]
    # A tiny interval in minutes: a mid-epoch checkpoint after (nearly) every step, by the clock.
    timed = train("0.00001 min", tmp_path / "minutes")
    assert timed[-1] == (16, None) and (8, None) in timed
    assert len([s for s in timed if s[1] is not None]) >= 10
    assert not (tmp_path / "minutes" / "checkpoints").exists()  # a finished run keeps none


def test_checkpoint_intervals_read_as_steps_or_minutes():
    from osrm_runtime.train.checkpoint import Interval, parse_interval

    assert parse_interval(None) == Interval()
    assert parse_interval(500) == parse_interval("500") == parse_interval("500 steps") == Interval(steps=500)
    assert parse_interval("1 step") == Interval(steps=1)
    assert parse_interval("30 min") == parse_interval("30min") == Interval(minutes=30.0)
    assert parse_interval("0.5 minutes") == Interval(minutes=0.5)
    for bad in ("0", "0 min", "5 hours", "soon", 0):
        with pytest.raises(ValueError, match="training.checkpoint_every"):
            parse_interval(bad)


def test_optimizer_state_round_trips_through_flat_tensors(tmp_path):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
        opt.zero_grad()
    names = [n for n, _ in model.named_parameters()]
    tensors, meta = ckpt.optimizer_to_flat(opt, names)
    ckpt.save_tensors(str(tmp_path / "opt.safetensors"), tensors)
    ckpt.write_json_atomic(str(tmp_path / "opt.json"), meta)
    from safetensors.torch import load_file

    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    ckpt.optimizer_from_flat(fresh, load_file(str(tmp_path / "opt.safetensors")),
                             json.loads((tmp_path / "opt.json").read_text()))
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        for key in a["state"][i]:
            assert torch.equal(torch.as_tensor(a["state"][i][key]), torch.as_tensor(b["state"][i][key]))


def test_the_schedule_is_transformers_warmup_then_linear_decay():
    import math

    import torch
    from transformers import get_linear_schedule_with_warmup

    from osrm_runtime.contract import parse_piece
    from osrm_runtime.contract.payloads import TrainingSetting
    from osrm_runtime.train.recipe import make_scheduler

    training = parse_piece(TrainingSetting, {"lr": 4e-4, "warmup_ratio": 0.06})
    total = 157
    ours = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=training.lr)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=training.lr)
    a = make_scheduler(ours, training, total)
    b = get_linear_schedule_with_warmup(theirs, num_warmup_steps=math.ceil(0.06 * total), num_training_steps=total)
    seen = []
    for _ in range(total):
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
        seen.append(ours.param_groups[0]["lr"])
        ours.step(), theirs.step(), a.step(), b.step()
    assert seen[0] == 0 and max(seen) == pytest.approx(4e-4) and seen[-1] < 1e-5
    # its state is plain JSON, as the checkpoint stores it
    assert json.loads(json.dumps(a.state_dict()))["last_epoch"] == total
