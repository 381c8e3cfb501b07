"""The GPU acceptance script (bench/gpu/acceptance.py) in its tiny CPU mode: every section runs
the code it runs on a GPU (statistics vs batch size 1 and vs a plain forward, training vs pad-128 +
checkpointing and vs a plain forward+backward with its MFU, a Llama-shaped LoRA step, the
streaming merge in its own process, `osrm demo` end to end), and writes one JSON file and a table."""

import json
import math
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_tiny_mode_runs_every_section_and_writes_one_json_and_a_table(tmp_path):
    out = tmp_path / "acceptance.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu", "acceptance.py"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["format"] == "osrm-gpu-acceptance/1" and result["mode"] == "tiny"
    sections = result["sections"]
    assert sorted(sections) == ["demo", "llama_step", "merge", "stats", "train"]
    assert all(s.get("error") is None and s["value"] for s in sections.values()), sections

    stats = sections["stats"]["value"]
    assert sorted(stats) == ["tiny-llama", "tiny-roberta"]
    for r in stats.values():
        assert r["modules"] == 4 and r["real_tokens"] > 0
        # batching beats batch size 1 even on a tiny CPU model; ours is within reach of the plain forward
        assert r["speedup"] > 1 and 0 < r["ours_over_plain"] < 5
    train = sections["train"]["value"]
    assert train["ours_samples_per_s"] > train["reference_samples_per_s"] > 0
    assert train["ours_mean_padded_width"] < 128
    seq = train["seq128"]
    assert 0 < seq["mfu"] < 1 and seq["flops_per_token"] > 0 and math.isfinite(seq["model_tflops"])
    step = sections["llama_step"]["value"]
    assert step["samples_per_s"] > 0 and step["checkpointing"] and step["batch_size"] == 16
    merge = sections["merge"]["value"]
    assert merge["adapters"] == 8 and merge["seconds"] > 0 and merge["peak_bytes"] > 0 and merge["base_bytes"] > 0
    demo = sections["demo"]["value"]
    assert demo["exit_code"] == 0
    assert any(row.startswith("| Individual | osrm |") for row in demo["table"])
    assert any(row.startswith("| TIES | gaussian |") for row in demo["table"])

    names = [g["name"] for g in result["goals"]]
    assert "stats speed-up vs batch size 1, tiny-roberta" in names and "training MFU at seq 128, tiny-roberta" in names
    assert all(g["met"] is None for g in result["goals"])  # tiny shapes on a CPU are not judged
    assert "goal" in proc.stdout and "not judged (tiny)" in proc.stdout and str(out) in proc.stdout
