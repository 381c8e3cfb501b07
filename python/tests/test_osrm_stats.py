"""OSRM statistics: the batched hook path against a brute-force per-example computation, shared
inputs, the cache, and the op's errors."""

import json

import pytest
import torch

from osrm_runtime.context import Context
from osrm_runtime.data import load_examples, task_spec
from osrm_runtime.data.batches import encode, iterate_batches
from osrm_runtime.models import model_spec, adapted_module_names, load_classifier, load_tokenizer
from osrm_runtime.osrm import hooks, stats as stats_op
from osrm_runtime.osrm.stats_cache import load_stats
from osrm_runtime.testing.calls import call_op


def _ctx(lines=None):
    return Context("test", sink=(lambda s: lines.append(json.loads(s))) if lines is not None else None, min_interval=0)


def _task(glue_dir, name):
    return {"name": name, "source": {"kind": "glue", "task": name, "dir": glue_dir}}


def _brute_force(model, encoded, modules, pad_to=None, pad_id=1):
    """Per example, unpadded (or padded to pad_to for the all-positions mean): sum h h^T and means."""
    named = dict(model.named_modules())
    seen = {}
    handles = [named[m].register_forward_pre_hook(lambda _m, a, m=m: seen.__setitem__(m, a[0][0].double()))
               for m in modules]
    S = {m: 0 for m in modules}
    mean_masked = {m: 0 for m in modules}
    mean_all = {m: 0 for m in modules}
    with torch.inference_mode():
        for ids in encoded.input_ids:
            n = len(ids)
            width = pad_to or n
            x = torch.full((1, width), pad_id)
            x[0, :n] = torch.tensor(ids)
            mask = torch.zeros(1, width, dtype=torch.long)
            mask[0, :n] = 1
            model(input_ids=x, attention_mask=mask)
            for m in modules:
                h = seen[m]
                S[m] = S[m] + h[:n].T @ h[:n]
                mean_masked[m] = mean_masked[m] + h[:n].mean(0) / len(encoded)
                mean_all[m] = mean_all[m] + h.mean(0) / len(encoded)
    for h in handles:
        h.remove()
    return S, mean_masked, mean_all


@pytest.mark.parametrize("fixture", ["tiny_roberta", "tiny_llama"])
def test_batched_second_moment_equals_brute_force_without_pad_tokens(fixture, glue_dir, request):
    path = request.getfixturevalue(fixture)
    spec = model_spec(path)
    model = load_classifier(spec, num_labels=2).eval()
    tok = load_tokenizer(spec)
    family = "roberta" if "roberta" in fixture else "llama"
    modules = adapted_module_names(model, family, ["q", "k", "v"])
    examples = load_examples(task_spec(_task(glue_dir, "mrpc")), "train").sample(7, 0)
    encoded = encode(tok, examples, 128)
    lengths = [len(s) for s in encoded.input_ids]
    assert len(set(lengths)) > 1  # padding really happens inside a batch
    batches = iterate_batches(encoded, 3, tok.pad_token_id, group_by_length=True)
    moments = hooks.collect_moments(model, batches, modules, "masked")

    # q, k, v of a layer read one tensor: one statistic per layer, keyed by the layer's q
    assert len(moments.inputs) == 2 and len(set(moments.module_input.values())) == 2
    assert all(moments.module_input[m] == m.rsplit(".", 1)[0] + ("." + modules[0].rsplit(".", 1)[1]) for m in modules)
    S, mean_masked, _ = _brute_force(model, encoded, list(moments.inputs), pad_id=tok.pad_token_id)
    for key, acc in moments.inputs.items():
        assert acc.tokens == sum(lengths)
        err = (acc.second_moment - S[key]).norm() / S[key].norm()
        assert err < 1e-5, (key, float(err))
        mean = acc.mean_masked_sum / acc.samples
        assert (mean - mean_masked[key]).norm() / mean_masked[key].norm() < 1e-5


def test_all_positions_mean_matches_padding_each_example_to_max_length(tiny_roberta, glue_dir):
    spec = model_spec(tiny_roberta)
    model = load_classifier(spec, num_labels=2).eval()
    tok = load_tokenizer(spec)
    modules = adapted_module_names(model, "roberta", ["q", "v"])
    examples = load_examples(task_spec(_task(glue_dir, "sst2")), "train").sample(5, 1)
    encoded = encode(tok, examples, 32)
    moments = hooks.collect_moments(model, iterate_batches(encoded, 4, tok.pad_token_id, pad_to=32), modules,
                                    "all-positions")
    S, _, mean_all = _brute_force(model, encoded, list(moments.inputs), pad_to=32, pad_id=tok.pad_token_id)
    for key, acc in moments.inputs.items():
        mean = acc.mean_all_sum / acc.samples
        assert (mean - mean_all[key]).norm() / mean_all[key].norm() < 1e-5
        assert (acc.second_moment - S[key]).norm() / S[key].norm() < 1e-5  # pads excluded from S here too
        # the pad positions do move the all-positions mean away from the masked one
        assert (mean - acc.mean_masked_sum / acc.samples).norm() > 1e-3 * mean.norm()


def _payload(model, glue_dir, task, cache, **osrm):
    return {"model": {"name_or_path": model}, "task": _task(glue_dir, task), "blocks": ["q", "v"],
            "osrm": {"samples": 20, "seed": 3, **osrm}, "batch_size": 8, "cache_dir": str(cache)}


def test_collect_stats_writes_a_reusable_file_with_metadata(tiny_roberta, glue_dir, tmp_path, monkeypatch):
    calls = []
    real = hooks.collect_moments
    monkeypatch.setattr(hooks, "collect_moments", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "sst2", tmp_path), _ctx())
    again = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "sst2", tmp_path), _ctx())
    assert (first["cached"], again["cached"], len(calls)) == (False, True, 1)
    assert first["file"] == again["file"] and first["samples"] == 20 and first["inputs"] == 2
    assert len(first["modules"]) == 4 and first["tokens"] > 20
    loaded = load_stats(first["file"])
    assert loaded.meta["k"] == 20 and loaded.meta["seed"] == 3 and loaded.task == "sst2"
    S = loaded.second_moment(first["modules"][0])
    assert S.dtype == torch.float32 and S.shape == (32, 32) and torch.allclose(S, S.T)
    assert loaded.tokens(first["modules"][1]) == first["tokens"]
    # another seed or pooling is another file; an all-positions file also answers masked requests
    other = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "sst2", tmp_path / "b", seed=4), _ctx())
    assert other["file"] != first["file"] and not other["cached"]
    full = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "mrpc", tmp_path / "c", pooling="all-positions"), _ctx())
    masked = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "mrpc", tmp_path / "c"), _ctx())
    assert masked["cached"] and masked["file"] == full["file"] and len(calls) == 3


def test_fewer_examples_than_k_is_used_and_reported(tiny_roberta, glue_dir, tmp_path):
    lines = []
    result = call_op("collect_stats", _payload(tiny_roberta, glue_dir, "rte", tmp_path, samples=500), _ctx(lines))
    assert result["samples"] == 200 and "fewer than osrm.samples=500" in result["warnings"][0]
    assert any("fewer than" in (e.get("message") or "") for e in lines)


def test_bad_blocks_and_bad_input_name_the_field(tiny_roberta, glue_dir, tmp_path):
    bad = _payload(tiny_roberta, glue_dir, "sst2", tmp_path)
    with pytest.raises(ValueError, match=r"blocks\[0\]: must be one of"):
        call_op("collect_stats", {**bad, "blocks": ["attn"]}, _ctx())
    with pytest.raises(ValueError, match="match no linear module.*its linear modules include"):
        call_op("collect_stats", {**bad, "model": {"name_or_path": tiny_roberta, "family": "llama"}}, _ctx())
    with pytest.raises(ValueError, match="osrm.pooling"):
        call_op("collect_stats", _payload(tiny_roberta, glue_dir, "sst2", tmp_path, pooling="mean"), _ctx())
    with pytest.raises(ValueError, match="cache_dir"):
        call_op("collect_stats", {**bad, "cache_dir": None}, _ctx())
    with pytest.raises(ValueError, match="does not exist"):
        load_stats(str(tmp_path / "missing.safetensors"), "stats.sst2")


def test_length_buckets_cover_every_example_once_and_bound_padding():
    from osrm_runtime.osrm.batching import bucket_indices

    lengths = [7, 58, 9, 30, 31, 8, 12, 40, 41, 42, 43, 44, 45] * 5
    batches = bucket_indices(lengths, batch_size=6, max_spread=1.25)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= 6 for b in batches)
    assert all(max(lengths[i] for i in b) <= 1.25 * min(lengths[i] for i in b) for b in batches)
    assert max(len(b) for b in batches) > 1  # never batch size 1 by construction when lengths repeat
