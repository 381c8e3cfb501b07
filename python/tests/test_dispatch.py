import json

from osrm_runtime.dispatch import dispatch


def test_ok_envelope_converts_numpy_scalars_and_non_finite_floats():
    import numpy as np

    from osrm_runtime.context import to_json_value

    value = to_json_value({"a": np.float32(0.5), "b": [np.int64(3), float("nan")], "c": float("inf")})
    assert value == {"a": 0.5, "b": [3, None], "c": None}
    json.dumps(value, allow_nan=False)
    assert json.loads(dispatch("echo", json.dumps({"x": 1}))) == {"ok": True, "value": {"x": 1}}


def test_exception_envelope_carries_type_message_traceback():
    out = json.loads(dispatch("fail", json.dumps({"message": "bad field model.name_or_path"})))
    assert out["ok"] is False
    assert out["type"] == "RequestedFailure"
    assert out["message"] == "bad field model.name_or_path"
    assert "Traceback" in out["traceback"]


def test_unknown_op_lists_known_ops():
    out = json.loads(dispatch("nope", "{}"))
    assert out["type"] == "OpNotAvailable"
    assert "noop" in out["message"]


def test_progress_is_throttled_but_keeps_first_and_last():
    lines = []
    out = json.loads(dispatch("sleep", json.dumps({"seconds": 0.3}), lines.append))
    assert out["ok"]
    events = [json.loads(line) for line in lines]
    assert events[0]["current"] == 1
    assert events[-1]["current"] == events[-1]["total"]
    assert len(events) < events[-1]["total"]
