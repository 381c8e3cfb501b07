"""Every merging method against a small reference written plainly in numpy (loops, sorts, lstsq),
on random tensors, plus the exact identities each method must satisfy."""

import os
import numpy as np
import pytest
import torch

from osrm_runtime.merge.hyperparams import Param
from osrm_runtime.merge.method import ModuleInput
from osrm_runtime.merge.registry import BY_NAME, METHODS, parse_method
from osrm_runtime.merge.sparsify import MagnitudeTrim, kth_largest_abs

T, D_OUT, D_IN, RANK = 3, 12, 10, 2


def lora_factors(seed, tasks=T):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(D_OUT, RANK, generator=g), torch.randn(RANK, D_IN, generator=g)) for _ in range(tasks)]


def module(factors=None, deltas=None, stats=None, key="layer.0.query.weight"):
    if deltas is None:
        deltas = [b @ a for b, a in factors]
    return ModuleInput(key, lambda: [d.clone() for d in deltas], factors, stats or {})


def run(name, m, **hp):
    spec, resolved = parse_method({"name": name, **hp})
    return spec.build(resolved).merge(m)


def np_(ts):
    return [t.double().numpy() for t in ts]


# ------------------------------------------------------------------ references, written plainly

def ref_trim(v, density):
    flat = v.reshape(-1).copy()
    k = int(round(density * flat.size))
    order = np.argsort(-np.abs(flat), kind="stable")
    out = np.zeros_like(flat)
    out[order[:k]] = flat[order[:k]]
    return out.reshape(v.shape)


def ref_ties(vs, density):
    trimmed = [ref_trim(v, density) for v in vs]
    total = sum(trimmed)
    out = np.zeros_like(vs[0])
    for idx in np.ndindex(out.shape):
        sign = 1.0 if total[idx] >= 0 else -1.0
        agreeing = [t[idx] for t in trimmed if t[idx] * sign > 0]
        out[idx] = sum(agreeing) / len(agreeing) if agreeing else 0.0
    return out


def ref_emr(vs):
    total = sum(vs)
    unified = np.zeros_like(vs[0])
    masks = [np.zeros(vs[0].shape, bool) for _ in vs]
    for idx in np.ndindex(unified.shape):
        flag = 1.0 if total[idx] > 0 else -1.0
        best = 0.0
        for t, v in enumerate(vs):
            if v[idx] * flag > 0:
                masks[t][idx] = True
                best = max(best, abs(v[idx]))
        unified[idx] = flag * best
    rescalers = [np.abs(v).sum() / np.abs(m * unified).sum() for v, m in zip(vs, masks)]
    return unified, masks, rescalers


def polar(m):
    p, _, qh = np.linalg.svd(m, full_matrices=False)
    return p @ qh


def nonzero_svd(m):
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    r = int((s > s.max() * max(m.shape) * 1.2e-7).sum())
    return u[:, :r], s[:r], vh[:r]


# ------------------------------------------------------------------ the TA family

def test_weight_averaging_and_task_arithmetic_match_loops():
    f = lora_factors(0)
    vs = np_([b @ a for b, a in f])
    assert np.allclose(run("weight_averaging", module(f)).delta.numpy(), sum(vs) / T, atol=1e-5)
    assert np.allclose(run("task_arithmetic", module(f)).delta.numpy(), vs[0] + vs[1] + vs[2], atol=1e-5)


@pytest.mark.parametrize("density", [0.2, 0.5, 1.0])
def test_ties_per_tensor_matches_reference(density):
    f = lora_factors(1)
    got = run("ties", module(f), density=density).delta.double().numpy()
    assert np.allclose(got, ref_ties(np_([b @ a for b, a in f]), density), atol=1e-5)


def test_ties_density_one_with_agreeing_signs_is_the_mean():
    base = torch.rand(D_OUT, D_IN) + 0.1
    deltas = [base * s for s in (1.0, 2.0, 0.5)]  # same sign everywhere
    got = run("ties", module(deltas=deltas), density=1.0).delta
    assert torch.allclose(got, sum(deltas) / 3, atol=1e-6)


def test_ties_global_trim_uses_one_threshold_over_all_tensors():
    g = torch.Generator().manual_seed(3)
    tensors = {f"t{i}.weight": [torch.randn(5 + i, 7, generator=g) * (i + 1) for _ in range(T)] for i in range(3)}
    density = 0.3
    spec, hp = parse_method({"name": "ties", "density": density, "trim_scope": "global"})
    method = spec.build(hp)
    stream = lambda: (module(deltas=v, key=k) for k, v in tensors.items())  # noqa: E731
    method.prepare(stream, T)
    got = {k: method.merge(m).delta.double().numpy() for k, m in zip(tensors, stream())}
    # Reference: per task, the threshold from sorting the task's concatenated magnitudes.
    kept = []
    for t in range(T):
        everything = np.concatenate([v[t].double().numpy().ravel() for v in tensors.values()])
        k = int(round(density * everything.size))
        threshold = np.sort(np.abs(everything))[::-1][k - 1]
        kept.append({name: np.where(np.abs(v[t].double().numpy()) >= threshold, v[t].double().numpy(), 0.0)
                     for name, v in tensors.items()})
    for name in tensors:
        trimmed = [kept[t][name] for t in range(T)]
        expected = ref_ties(trimmed, 1.0)  # already trimmed: elect + disjoint mean only
        assert np.allclose(got[name], expected, atol=1e-5)
    # and the kept count equals k (continuous values: no ties)
    n_all = sum(v[0].numel() for v in tensors.values())
    assert sum(int((kept[0][n] != 0).sum()) for n in tensors) == int(round(density * n_all))


def test_radix_threshold_equals_sorted_kth_value():
    g = torch.Generator().manual_seed(4)
    chunks = [[torch.randn(50, generator=g) ** 3] for _ in range(4)]
    for density in (0.01, 0.37, 1.0):
        values = np.abs(np.concatenate([c[0].numpy() for c in chunks]))
        k = int(round(density * values.size))
        assert kth_largest_abs(lambda: iter(chunks), 1, density)[0] == np.sort(values)[::-1][k - 1]


def test_dare_with_zero_drop_equals_its_base_method():
    f = lora_factors(5)
    assert torch.equal(run("dare_ta", module(f), drop_rate=0.0, **{"lambda": 1.0}).delta,
                       run("task_arithmetic", module(f), **{"lambda": 1.0}).delta)
    assert torch.equal(run("dare_ties", module(f), drop_rate=0.0, density=0.4).delta,
                       run("ties", module(f), density=0.4).delta)


def test_dare_drops_at_rate_p_rescales_survivors_and_is_seeded():
    deltas = [torch.randn(200, 100, generator=torch.Generator().manual_seed(t)) for t in range(2)]
    p = 0.3
    spec, hp = parse_method({"name": "dare_ta", "drop_rate": p, "seed": 7})
    drop = spec.build(hp).core.sparsifiers[0]
    out = [drop(v, task=t, key="k") for t, v in enumerate(deltas)]
    for v, o in zip(deltas, out):
        kept = o != 0
        assert abs(1 - kept.float().mean().item() - p) < 0.02
        assert torch.allclose(o[kept], v[kept] / (1 - p))
    assert not torch.equal(out[0] != 0, out[1] != 0)  # each task its own mask
    again = [drop(v, task=t, key="k") for t, v in enumerate(deltas)]
    assert all(torch.equal(a, b) for a, b in zip(out, again))
    # DARE-TA is the plain sum of those dropped vectors
    merged = spec.build(hp).merge(module(deltas=deltas, key="k")).delta
    assert torch.allclose(merged, out[0] + out[1], atol=1e-6)


# ------------------------------------------------------------------ EMR, Fisher, RegMean

def test_emr_matches_reference_and_rescalers_span_tensors():
    f = lora_factors(6)
    vs = np_([b @ a for b, a in f])
    method = BY_NAME["emr"].build({})
    result = method.merge(module(f))
    unified, masks, _ = ref_emr(vs)
    assert np.allclose(result.delta.double().numpy(), unified, atol=1e-6)
    for t in range(T):
        assert np.array_equal(result.masks[t].numpy(), masks[t])
    # a second tensor: the rescaler is one scalar over both
    f2 = lora_factors(7)
    vs2 = np_([b @ a for b, a in f2])
    method.merge(module(f2, key="layer.1.value.weight"))
    u2, m2, _ = ref_emr(vs2)
    expected = [(np.abs(vs[t]).sum() + np.abs(vs2[t]).sum())
                / (np.abs(masks[t] * unified).sum() + np.abs(m2[t] * u2).sum()) for t in range(T)]
    assert np.allclose(method.finish()["rescalers"], expected, rtol=1e-6)


def test_emr_with_one_task_reproduces_it_exactly():
    f = lora_factors(8, tasks=1)
    method = BY_NAME["emr"].build({})
    result = method.merge(module(f))
    served = method.finish()["rescalers"][0] * result.masks[0] * result.delta
    assert torch.allclose(served, f[0][0] @ f[0][1], atol=0, rtol=1e-6)


def test_fisher_is_the_fisher_weighted_average():
    f = lora_factors(9)
    g = torch.Generator().manual_seed(10)
    fishers = [torch.rand(D_OUT, D_IN, generator=g) for _ in range(T)]
    got = run("fisher", module(f, stats={"fisher": fishers})).delta.double().numpy()
    vs, fs = np_([b @ a for b, a in f]), np_(fishers)
    expected = np.zeros_like(vs[0])
    for idx in np.ndindex(expected.shape):
        w = [fs[t][idx] + 1e-6 for t in range(T)]
        expected[idx] = sum(w[t] * vs[t][idx] for t in range(T)) / sum(w)
    assert np.allclose(got, expected, atol=1e-5)


def test_regmean_is_the_least_squares_merge_of_the_task_layers():
    f = lora_factors(11)
    g = torch.Generator().manual_seed(12)
    inputs = [torch.randn(20 + 5 * t, D_IN, generator=g) for t in range(T)]
    grams = [x.T @ x / len(x) for x in inputs]
    got = run("regmean", module(f, stats={"gram": grams}), alpha=1.0).delta.double().numpy()
    # Reference: min_W sum_t ||X_t W^T - X_t dW_t^T||^2 / n_t by stacking the scaled problems.
    xs = [x.double().numpy() / np.sqrt(len(x)) for x in inputs]
    targets = [x @ d.T for x, d in zip(xs, np_([b @ a for b, a in f]))]
    solution = np.linalg.lstsq(np.vstack(xs), np.vstack(targets), rcond=None)[0]
    assert np.allclose(got, solution.T, atol=1e-4)


def test_regmean_alpha_scales_off_diagonals_and_one_task_returns_its_weights():
    f = lora_factors(13, tasks=1)
    x = torch.randn(4, D_IN)  # fewer tokens than inputs: only alpha < 1 makes the Gram invertible
    got = run("regmean", module(f, stats={"gram": [x.T @ x / 4]}), alpha=0.5).delta
    assert torch.allclose(got, f[0][0] @ f[0][1], atol=1e-4)


def test_regmean_averages_tensors_without_a_gram():
    deltas = [torch.randn(D_OUT) for _ in range(T)]
    assert torch.allclose(run("regmean", module(deltas=deltas)).delta, sum(deltas) / T, atol=1e-6)


# ------------------------------------------------------------------ SVD-based methods

def test_knots_ta_equals_task_arithmetic_and_knots_ties_matches_reference():
    f = lora_factors(14)
    vs = np_([b @ a for b, a in f])
    assert np.allclose(run("knots_ta", module(f), **{"lambda": 1.0}).delta.numpy(), sum(vs), atol=1e-4)
    u, s, vh = nonzero_svd(np.hstack(vs))
    blocks = [(np.diag(s) @ vh)[:, t * D_IN:(t + 1) * D_IN] for t in range(T)]
    expected = u @ ref_ties(blocks, 0.5)
    got = run("knots_ties", module(f), density=0.5).delta.double().numpy()
    assert np.allclose(got, expected, atol=1e-4)


def test_core_space_ta_equals_dense_ta():
    f = lora_factors(15)
    dense = run("task_arithmetic", module(f), **{"lambda": 1.0}).delta
    core = run("core_space_ta", module(f)).delta
    assert (core - dense).abs().max() < 1e-5


def test_core_space_never_densifies_and_ties_matches_reference():
    f = lora_factors(16)
    m = ModuleInput("k", lambda: pytest.fail("core space must not build dense task vectors"), f, {})
    got = run("core_space_ties", m, density=0.5).delta.double().numpy()
    bs, as_ = np_([b for b, _ in f]), np_([a for _, a in f])
    u_ref = np.linalg.svd(np.hstack(bs), full_matrices=False)[0]
    v_ref = np.linalg.svd(np.vstack(as_), full_matrices=False)[2]
    cores = [u_ref.T @ b @ a @ v_ref.T for b, a in zip(bs, as_)]
    assert np.allclose(got, u_ref @ ref_ties(cores, 0.5) @ v_ref, atol=1e-4)


def test_tsv_matches_reference():
    g = torch.Generator().manual_seed(17)
    deltas = [torch.randn(D_OUT, D_IN, generator=g) for _ in range(T)]  # full rank 10
    got = run("tsv", module(deltas=deltas)).delta.double().numpy()
    k = D_IN // T  # 1/T of the layer's rank
    us, ss, vs = [], [], []
    for d in np_(deltas):
        u, s, vh = np.linalg.svd(d, full_matrices=False)
        us.append(u[:, :k]), ss.append(s[:k]), vs.append(vh[:k].T)
    expected = polar(np.hstack(us)) @ np.diag(np.concatenate(ss)) @ polar(np.hstack(vs)).T
    assert np.allclose(got, expected, atol=1e-4)


def test_iso_c_flattens_the_spectrum_of_the_sum():
    f = lora_factors(18)
    got = run("iso_c", module(f)).delta.double().numpy()
    u, s, vh = nonzero_svd(sum(np_([b @ a for b, a in f])))
    assert np.allclose(got, s.mean() * u @ vh, atol=1e-4)
    singular = np.linalg.svd(got, compute_uv=False)
    assert np.allclose(singular[:len(s)], s.mean(), rtol=1e-4)


def test_iso_cts_matches_reference():
    g = torch.Generator().manual_seed(19)
    deltas = [torch.randn(D_OUT, D_IN, generator=g) for _ in range(T)]
    got = run("iso_cts", module(deltas=deltas), common_fraction=0.5).delta.double().numpy()
    vs = np_(deltas)
    u, s, vh = np.linalg.svd(sum(vs), full_matrices=False)
    room = D_IN
    common = int(0.5 * room)
    per_task = (room - common) // T
    us, vts = [u[:, :common]], [vh[:common].T]
    for d in vs:
        residual = d - u[:, :common] @ u[:, :common].T @ d
        ru, _, rvh = np.linalg.svd(residual, full_matrices=False)
        us.append(ru[:, :per_task]), vts.append(rvh[:per_task].T)
    expected = s.mean() * polar(np.hstack(us)) @ polar(np.hstack(vts)).T
    assert np.allclose(got, expected, atol=1e-4)


# ------------------------------------------------------------------ the registry

def test_every_method_describes_itself_and_rejects_out_of_range_values():
    for m in METHODS:
        d = m.describe()
        assert d["name"] and d["display_name"] and d["reference"]["url"].startswith("https://")
        assert any(p["name"] == "lambda" for p in d["hyperparameters"])
    with pytest.raises(ValueError, match="'density' is 1.5, outside its range"):
        parse_method({"name": "ties", "density": 1.5})
    with pytest.raises(ValueError, match="drop_rate"):
        parse_method({"name": "dare_ties", "drop_rate": 1.0})
    with pytest.raises(ValueError, match="has no hyperparameter 'density'"):
        parse_method({"name": "task_arithmetic", "density": 0.5})
    with pytest.raises(ValueError, match="unknown"):
        parse_method({"name": "soup"})
    with pytest.raises(ValueError, match="expected one of"):
        Param("x", "choice", "a", "", choices=("a",)).validate("m", "b")


def test_every_method_runs_on_matrices_and_vectors():
    f = lora_factors(20)
    vectors = [torch.randn(D_OUT) for _ in range(T)]
    for m in METHODS:
        data = {"fisher": [torch.rand(D_OUT, D_IN) for _ in range(T)]} if "fisher" in m.data else {}
        out = m.build(m.resolve({})).merge(module(f, stats=data)).delta
        assert out.shape == (D_OUT, D_IN) and torch.isfinite(out).all() and out.abs().sum() > 0, m.name
        if not m.lora_only:
            data = {"fisher": [torch.rand(D_OUT) for _ in range(T)]} if "fisher" in m.data else {}
            assert m.build(m.resolve({})).merge(module(deltas=vectors, stats=data)).delta.shape == (D_OUT,)


def test_the_generated_registry_file_is_current():
    from osrm_runtime.merge.registry import GENERATED_FILE, registry_json

    path = os.path.join(os.path.dirname(__file__), "..", "..", GENERATED_FILE)
    with open(path, encoding="utf-8") as f:
        assert f.read() == registry_json(), f"{GENERATED_FILE} is stale: run `npm run contract`"


def test_methods_that_declare_a_linear_combination_are_exactly_that_combination():
    f = lora_factors(20)
    deltas = [b @ a for b, a in f]
    linear = [m for m in METHODS if m.linear_combination]
    assert {m.name for m in linear} == {"weight_averaging", "task_arithmetic", "knots_ta", "core_space_ta"}
    for m in linear:
        out = m.build(m.resolve({})).merge(module(f)).delta
        expected = sum(deltas) / (len(deltas) if m.linear_combination == "mean" else 1)
        assert torch.allclose(out, expected, atol=1e-5), m.name
