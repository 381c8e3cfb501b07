"""The boundary's contract: every op payload is validated against the JSON Schema generated from
the TypeScript side's zod schemas (schema.json), the defaults the schema declares are filled in,
and the result is built into the op's frozen dataclass (payloads.py). Defaults therefore live in
the zod schemas only, and the numerical core reads typed attributes.

A payload that does not match is refused with the op and the JSON path of the bad field
(`train: training.lr: must be > 0, got -1`) as a PayloadError, a ValueError: bad input, exit 2.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import typing
from typing import Any, Union

from . import payloads

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.json")
# Lets a test hand Python a schema generated from changed zod schemas (see test/contract.test.ts).
SCHEMA_ENV = "OSRM_CONTRACT_SCHEMA"


class PayloadError(ValueError):
    """A payload that does not match its op's schema."""


@functools.lru_cache(maxsize=4)
def _document(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def document() -> dict:
    return _document(os.environ.get(SCHEMA_ENV) or SCHEMA_FILE)


def op_summaries() -> dict[str, str]:
    return {name: entry["summary"] for name, entry in document()["ops"].items()}


@functools.lru_cache(maxsize=256)
def _validator(doc_id: int, key: str):
    """A validator for one op's payload (key "op:NAME") or one shared piece ("def:NAME")."""
    from jsonschema import Draft202012Validator

    doc = document()
    kind, name = key.split(":", 1)
    schema = doc["ops"][name]["payload"] if kind == "op" else doc["$defs"][name]
    return Draft202012Validator({**schema, "$defs": doc["$defs"]})


def _schema_validator(schema: dict):
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**schema, "$defs": document()["$defs"]})


# ---- error messages --------------------------------------------------------------------------

_TYPE_NAMES = {"number": "a number", "integer": "an integer", "string": "a string", "boolean": "true or false",
               "object": "an object", "array": "a list", "null": "null"}


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error) -> str:
    """One line: `path: what is expected, got what`."""
    path = list(error.absolute_path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [name for name in expected if isinstance(value, dict) and name not in value]
        return f"{_path(path + missing[:1])}: is required"
    if kind == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(value) - set(known)) if isinstance(value, dict) else []
        where = _path(path) or "the payload"
        return f"{where}: unknown key {', '.join(map(repr, extra))}; known: {', '.join(known)}"
    where = _path(path) or "the payload"
    if kind == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{where}: must be {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}, got {_shown(value)}"
    if kind == "enum":
        return f"{where}: must be one of {', '.join(map(_shown, expected))}; got {_shown(value)}"
    if kind == "const":
        return f"{where}: must be {_shown(expected)}, got {_shown(value)}"
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if kind in bounds:
        return f"{where}: must be {bounds[kind]} {expected}, got {_shown(value)}"
    if kind == "minLength":
        return f"{where}: must not be empty" if expected == 1 else f"{where}: must have at least {expected} characters"
    if kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        return f"{where}: must have {word} {expected} item(s), got {len(value)}"
    if kind == "pattern":
        return f"{where}: must match {expected}, got {_shown(value)}"
    return f"{where}: {error.message}"


def _discriminator(options: list) -> tuple[str, list] | None:
    """The key whose constant tells a union's object branches apart (a source's `kind`, a
    method's `name`), with each branch's constant."""
    branches = [_resolve(o) for o in options]
    if not all(b.get("type") == "object" and b.get("properties") for b in branches):
        return None
    for key in branches[0]["properties"]:
        consts = [b["properties"].get(key, {}).get("const") for b in branches]
        if all(c is not None for c in consts) and len(set(map(json.dumps, consts))) == len(consts):
            return key, consts
    return None


def _branch_errors(error, index: int) -> list:
    return [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == index]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}[kind] is type(value)


def _most_relevant(errors):
    """jsonschema's choice of the most relevant error, without its descent into unions (which
    picks a branch by depth alone; _explain picks by discriminator)."""
    from jsonschema.exceptions import relevance

    errors = list(errors)
    return max(errors, key=relevance) if errors else None


def _explain(error) -> str:
    """The message for the error a user can act on: inside a union, the branch the value was
    meant for (by its discriminator, else the branch of the value's own type)."""
    best_match = _most_relevant
    if error.validator in ("anyOf", "oneOf") and error.context:
        options = error.validator_value
        value = error.instance
        found = _discriminator(options) if isinstance(value, dict) else None
        if found is not None:
            key, consts = found
            if value.get(key) not in consts:
                where = _path(list(error.absolute_path) + [key])
                return f"{where}: must be one of {', '.join(map(_shown, consts))}; got {_shown(value.get(key))}"
            inner = best_match(_branch_errors(error, consts.index(value.get(key))))
            if inner is not None:
                return _explain(inner)
        kind = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
        types = [_resolve(o).get("type") for o in options]
        if all(isinstance(t, str) for t in types) and not any(_is_type(value, t) for t in types):
            names = " or ".join(_TYPE_NAMES.get(t, t) for t in dict.fromkeys(types))
            return f"{_path(list(error.absolute_path)) or 'the payload'}: must be {names}, got {_shown(value)}"
        if kind is not None:
            # e.g. a task given as a mapping, where a name would also do: explain the mapping.
            for i, option in enumerate(options):
                if _resolve(option).get("type") == kind:
                    inner = best_match(_branch_errors(error, i))
                    if inner is not None:
                        return _explain(inner)
        inner = best_match(error.context)
        if inner is not None:
            return _explain(inner)
    return _describe(error)


def _check(op: str, validator, value: Any) -> None:
    error = _most_relevant(validator.iter_errors(value))
    if error is not None:
        raise PayloadError(f"{op}: {_explain(error)}")


# ---- defaults --------------------------------------------------------------------------------

def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return document()["$defs"][ref[len("#/$defs/"):]]
    return schema


def fill_defaults(schema: dict, value: Any) -> Any:
    """A copy of a valid value with every default its schema declares filled in, recursively
    (inside the union branch the value matches)."""
    schema = _resolve(schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        for option in options:
            if _schema_validator(option).is_valid(value):
                return fill_defaults(option, value)
        return value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        out = dict(value)
        for name, sub in properties.items():
            if name not in out:
                declared = sub if "default" in sub else _resolve(sub)
                if "default" in declared:
                    out[name] = copy.deepcopy(declared["default"])
        for name in list(out):
            if name in properties:
                out[name] = fill_defaults(properties[name], out[name])
            elif isinstance(schema.get("additionalProperties"), dict):
                out[name] = fill_defaults(schema["additionalProperties"], out[name])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(schema["items"], v) for v in value]
    return value


# ---- building the dataclasses ----------------------------------------------------------------

def _json_name(f: dataclasses.Field) -> str:
    return f.metadata.get("json", f.name)


def _fits(kind: Any, value: Any) -> bool:
    """Whether a validated value is of this member of a union: a dataclass by its constants (a
    source's kind) or else by its exact set of fields; a list or mapping by shape; else by type."""
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            return False
        consts = getattr(kind, "CONSTS", {})
        if consts:
            return all(value.get(k) == v for k, v in consts.items())
        return set(value) == {_json_name(f) for f in dataclasses.fields(kind)}
    origin = typing.get_origin(kind)
    if origin is list:
        return isinstance(value, list)
    if origin is dict or kind is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(kind)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (int, str, bool):
        return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    return kind is Any


def build(kind: Any, value: Any) -> Any:
    """A validated, defaults-filled JSON value as the annotated type (dataclasses, lists, dicts)."""
    origin = typing.get_origin(kind)
    if kind is Any or kind is None or kind is type(None):
        return value
    if origin is Union:
        members = [m for m in typing.get_args(kind) if m is not type(None)]
        if value is None:
            return None
        for member in members:
            if _fits(member, value):
                # A number in a union keeps its JSON form: a label 1 stays 1, not 1.0.
                return value if member is float else build(member, value)
        raise PayloadError(f"no type of {kind} fits {_shown(value)}")
    if origin is list:
        (item,) = typing.get_args(kind)
        return [build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {k: build(item, v) for k, v in value.items()}
    if origin is typing.Literal:
        return value
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind, vars(payloads))
        return kind(**{f.name: build(hints[f.name], value.get(_json_name(f))) for f in dataclasses.fields(kind)})
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def parse(op: str, payload: Any, prepare=None) -> Any:
    """The op's typed payload, or PayloadError naming the op and the bad field. `prepare` may
    rewrite the validated, defaults-filled JSON before it is built (the boundary resolves demo
    task sources there)."""
    doc = document()
    entry = doc["ops"].get(op)
    if entry is None:
        raise PayloadError(f"{op}: no payload schema for this op in {SCHEMA_FILE} (run `npm run contract`)")
    if not isinstance(payload, dict):
        raise PayloadError(f"{op}: the payload must be an object, got {_shown(payload)}")
    _check(op, _validator(id(doc), f"op:{op}"), payload)
    filled = fill_defaults(entry["payload"], payload)
    if prepare is not None:
        filled = fill_defaults(entry["payload"], prepare(filled))
    return build(payloads.PAYLOADS[op], filled)


def parse_piece(kind: type, value: Any, where: str | None = None) -> Any:
    """A shared piece (ModelSpec, TaskSpec, ...) from plain JSON, checked and with its defaults:
    for values that come from files (a merge manifest's base) rather than from a payload."""
    doc = document()
    name = kind.__name__
    _check(where or name, _validator(id(doc), f"def:{name}"), value)
    return build(kind, fill_defaults(doc["$defs"][name], value))


def to_json(value: Any) -> Any:
    """A payload object back to plain JSON, with the contract's field names."""
    if dataclasses.is_dataclass(value):
        return {_json_name(f): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
