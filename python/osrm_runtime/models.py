"""Backbones: loading a pretrained model as a sequence classifier, its family, and the names of
the linear modules that LoRA adapts for each family-neutral block name (q, k, v, o, mlp).

Every op that touches a model goes through here, so the mapping from the config's `blocks` to
module names lives in exactly one place.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Optional

from .contract.payloads import ModelSpec
from .errors import InputError, first_line, unreadable_safetensors, wrap

# family -> block -> module name suffixes (as peft's target_modules matches them)
BLOCK_MODULES: dict[str, dict[str, list[str]]] = {
    "roberta": {"q": ["query"], "k": ["key"], "v": ["value"], "o": ["attention.output.dense"],
                "mlp": ["intermediate.dense", "output.dense"]},
    "bert": {"q": ["query"], "k": ["key"], "v": ["value"], "o": ["attention.output.dense"],
             "mlp": ["intermediate.dense", "output.dense"]},
    "t5": {"q": ["q"], "k": ["k"], "v": ["v"], "o": ["o"], "mlp": ["wi", "wo", "wi_0", "wi_1"]},
    "llama": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["o_proj"],
              "mlp": ["gate_proj", "up_proj", "down_proj"]},
    "mistral": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["o_proj"],
                "mlp": ["gate_proj", "up_proj", "down_proj"]},
    "gpt2": {"q": ["c_attn"], "k": ["c_attn"], "v": ["c_attn"], "o": ["attn.c_proj"],
             "mlp": ["c_fc", "mlp.c_proj"]},
}

# transformers model_type -> family
MODEL_TYPE_FAMILY = {
    "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta",
    "bert": "bert", "distilbert": "bert", "electra": "bert",
    "t5": "t5", "mt5": "t5",
    "llama": "llama", "qwen2": "llama", "qwen3": "llama", "gemma": "llama", "gemma2": "llama",
    "mistral": "mistral", "mixtral": "mistral",
    "gpt2": "gpt2",
}

DECODER_FAMILIES = {"llama", "mistral", "gpt2"}


def model_spec(name_or_path: str, **fields: Any) -> ModelSpec:
    """A ModelSpec for a folder or hub id, the schema's defaults for the rest (for specs that do
    not come from a payload: a merge manifest's base, a test's tiny model)."""
    from .contract import parse_piece

    return parse_piece(ModelSpec, {"name_or_path": name_or_path, **fields})


def hub_revision(spec: ModelSpec) -> dict:
    """`revision=` for from_pretrained when the spec pins one (a hub model's branch, tag or commit)."""
    return {"revision": spec.revision} if getattr(spec, "revision", None) else {}


def device() -> "Any":
    import torch

    if os.environ.get("OSRM_DEVICE"):
        return torch.device(os.environ["OSRM_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torch_dtype(spec: ModelSpec):
    import torch

    if spec.dtype == "bfloat16":
        return torch.bfloat16
    if spec.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return torch.float32


def _quiet_transformers() -> None:
    """transformers' load reports and "Loading weights" bars would interleave with our own
    progress display; the CLI shows progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_config(spec: ModelSpec, field: str = "model.name_or_path"):
    """The model's transformers config, after the folder check (check_model)."""
    files = check_model(spec, field)
    return _read_config(files.path, spec.name_or_path, field, local=files.local, revision=hub_revision(spec))


def _read_config(path: str, given: str, field: str, local: bool, revision: Optional[dict] = None):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, **(revision or {}))
    except Exception as exc:  # noqa: BLE001 - any failure here is about what the user named
        if local:
            raise wrap(f"{field}: {os.path.join(path, CONFIG_FILE)} is not a transformers model config "
                       f"({first_line(exc)}); save the model with save_pretrained, which writes it", exc) from None
        raise _hub_failure(given, field, exc) from None


def _hub_failure(name: str, field: str, exc: BaseException) -> InputError:
    """A hub id that did not load, told by what went wrong (the library's text goes to the log)."""
    where = os.path.abspath(name)
    text = f"{type(exc).__name__}: {exc}".lower()
    if "safetensors" in text:
        return wrap(f"{field}: the hub model '{name}' has no safetensors weights; osrm loads weights as "
                    f"safetensors only (a pickle can run code when it is loaded). Convert it outside osrm "
                    f"(docs/runtime.md, 'Model folders') and give the converted folder", exc)
    if any(word in text for word in ("connection", "offline", "timed out", "timeout", "max retries",
                                     "localentrynotfound", "resolve host", "name resolution")):
        reason = "the hub could not be reached (no network, or offline mode)"
    elif any(word in text for word in ("not found", "404", "repository", "repo id", "does not exist")):
        reason = "the hub has no model of that id"
    else:
        reason = f"loading it from the hub failed ({first_line(exc)})"
    return wrap(f"{field}: '{name}' is not a local folder (there is nothing at {where}), and {reason}; give "
                f"a model folder with {CONFIG_FILE} and {SAFETENSORS_FILE}, or a hub id that exists", exc)


# ---------------------------------------------------------------------------------------------
# The model folder check: every model osrm loads passes it first.

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
# Weights saved as pickles: loading one can run any code its author put in it, so osrm never
# opens them (not even with torch's weights_only, which blocks known payloads, not all of them).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
OTHER_FORMATS = (".h5", ".msgpack", ".gguf", ".onnx")
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"})
# A hub id as huggingface_hub accepts it: `name` or `namespace/name`.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

CONVERT_HINT = ("convert it outside osrm: `python -c \"from transformers import AutoModel; "
                "AutoModel.from_pretrained('{path}').save_pretrained('{path}')\"` writes {safetensors} beside it "
                "(use the class it was saved from, e.g. AutoModelForSequenceClassification, to keep a head)")


@dataclass(frozen=True)
class ModelFiles:
    """What check_model found: the path to give transformers, whether it is a local folder, its
    safetensors files, and warnings worth a log line (weights the file lacks)."""

    path: str
    local: bool
    weights: tuple = ()
    warnings: tuple = ()


def is_local(name: str) -> bool:
    """A path (it exists, or it cannot be a hub id: /x, ./x, ~/x, a/b/c) rather than a hub id."""
    return os.path.exists(os.path.expanduser(name)) or not HUB_ID.match(name)


def weight_files(path: str, field: str, what: str = "model folder") -> list[str]:
    """The safetensors files of a model folder (one file, or the shards its index lists), checked
    by name only: no file is opened before a folder of pickles is refused."""
    if not os.path.exists(path):
        raise InputError(f"{field}: the {what} {path} does not exist (a folder with {CONFIG_FILE} and "
                         f"{SAFETENSORS_FILE} is expected)")
    if not os.path.isdir(path):
        hint = (f"; give the folder that holds it ({os.path.dirname(os.path.abspath(path))})"
                if path.endswith(".safetensors") or os.path.basename(path) == CONFIG_FILE else "")
        raise InputError(f"{field}: {path} is a file, not a {what} ({CONFIG_FILE} and {SAFETENSORS_FILE} "
                         f"expected){hint}")
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise wrap(f"{field}: cannot read the {what} {path}: {exc.strerror.lower() if exc.strerror else exc}", exc) from None
    shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "") if names else "nothing"
    if SAFETENSORS_INDEX in names:
        index = os.path.join(path, SAFETENSORS_INDEX)
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise wrap(f"{field}: {index} is not a safetensors shard index (a JSON object with a "
                       f"'weight_map' of tensor -> file): {first_line(exc)}", exc) from None
        missing = [name for name in files if name not in names]
        if missing:
            raise InputError(f"{field}: {index} lists shard(s) {', '.join(missing)} that {path} does not "
                             f"have; copy every shard the index names")
    elif SAFETENSORS_FILE in names:
        files = [SAFETENSORS_FILE]
    else:
        if "adapter_config.json" in names:
            raise InputError(f"{field}: {path} is a PEFT adapter folder, not a model; give the base model it "
                             f"was trained on as the model")
        shards = [n for n in names if n.endswith(".safetensors")]
        pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES) or n.endswith(".bin.index.json")]
        if shards:
            raise InputError(f"{field}: the {what} {path} has {', '.join(shards[:4])} but neither "
                             f"{SAFETENSORS_FILE} nor {SAFETENSORS_INDEX}, the names transformers reads "
                             f"weights by; rename a single file to {SAFETENSORS_FILE}, or add the shard index")
        if pickles:
            raise InputError(f"{field}: the {what} {path} holds its weights as {', '.join(pickles[:4])} (a "
                             f"pickle), not safetensors. osrm never loads pickles: loading one can run any code "
                             f"put in it. If you trust where it came from, "
                             + CONVERT_HINT.format(path=path, safetensors=SAFETENSORS_FILE))
        others = [n for n in names if n.endswith(OTHER_FORMATS)]
        if others:
            raise InputError(f"{field}: the {what} {path} holds {', '.join(others[:4])}, a format osrm does "
                             f"not read; it reads {SAFETENSORS_FILE} (PyTorch weights in safetensors)")
        raise InputError(f"{field}: the {what} {path} has no model weights ({SAFETENSORS_FILE} expected; "
                         f"it holds: {shown})")
    if CONFIG_FILE not in names:
        raise InputError(f"{field}: the {what} {path} has no {CONFIG_FILE} (transformers' save_pretrained "
                         f"writes it beside the weights; it holds: {shown})")
    return files


_CHECKED: dict = {}


def check_model(spec: ModelSpec, field: str = "model.name_or_path") -> ModelFiles:
    """The one gate in front of every model load. A local folder must have config.json and
    safetensors weights (pickles are refused unopened), and every safetensors header must parse,
    hold floating-point weights and agree in shape with what config.json describes. A hub id is
    checked by transformers, with safetensors required, when it is loaded.

    The result is remembered per folder state (file names, sizes, mtimes), so the long-lived
    bridge checks a folder once and again only after it changed."""
    name = spec.name_or_path
    if not is_local(name):
        return ModelFiles(name, False)
    path = os.path.expanduser(name)
    files = weight_files(path, field)
    stamp = (os.path.abspath(path), tuple(_stamp(os.path.join(path, f)) for f in [CONFIG_FILE, *files]))
    known = _CHECKED.get(stamp)
    if known is None:
        warnings = check_weights(path, files, _read_config(path, name, field, local=True), field)
        known = _CHECKED[stamp] = ModelFiles(path, True, tuple(files), tuple(warnings))
    return known


def _stamp(file: str) -> tuple:
    st = os.stat(file)
    return (file, st.st_size, st.st_mtime_ns)


def expected_shapes(config) -> Optional[tuple[str, dict, set]]:
    """(base_model_prefix, backbone tensor -> shape, backbone parameter names) of the sequence
    classifier config.json describes, built on the meta device (no memory, no weights read);
    None for an architecture transformers has no sequence classifier for."""
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        with torch.device("meta"), contextlib.redirect_stdout(io.StringIO()):
            model = AutoModelForSequenceClassification.from_config(config)
    except Exception:  # noqa: BLE001 - no skeleton: the load itself reports what is wrong
        return None
    prefix = model.base_model_prefix
    backbone = getattr(model, prefix, model)
    shapes = {n: tuple(t.shape) for n, t in backbone.state_dict().items()}
    return prefix, shapes, {n for n, _ in backbone.named_parameters()}


def check_weights(path: str, files: list[str], config, field: str) -> list[str]:
    """Reads every safetensors header (never the data) and checks it against config.json:
    the header parses and covers the file (a truncated file fails here), each backbone weight is
    floating point and has the shape the config gives it, and the files hold this model's
    weights at all. Returns warnings (backbone weights the files lack)."""
    from safetensors import safe_open

    found: dict[str, tuple[str, str, tuple]] = {}
    for name in files:
        file = os.path.join(path, name)
        try:
            with safe_open(file, framework="pt", device="cpu") as handle:
                for key in handle.keys():
                    part = handle.get_slice(key)
                    found[key] = (file, part.get_dtype(), tuple(part.get_shape()))
        except Exception as exc:  # noqa: BLE001 - SafetensorError has no importable base class
            raise unreadable_safetensors(field, file, exc, "download or save the model again") from None
    skeleton = expected_shapes(config)
    if skeleton is None:
        return []
    prefix, shapes, params = skeleton
    matched: set[str] = set()
    for key, (file, dtype, shape) in found.items():
        inner = key[len(prefix) + 1:] if key.startswith(prefix + ".") else key
        if inner not in shapes:
            continue
        matched.add(inner)
        if inner in params and dtype not in FLOAT_DTYPES:
            raise InputError(f"{field}: tensor '{key}' in {file} is {dtype}; a floating-point weight is expected "
                             f"(quantized checkpoints are not supported)")
        if shape != shapes[inner]:
            raise InputError(f"{field}: tensor '{key}' in {file} has shape {list(shape)}, but "
                             f"{os.path.join(path, CONFIG_FILE)} describes {list(shapes[inner])} for it; the "
                             f"weights and config.json are not of the same model")
    if not matched:
        sample = next(iter(found), "nothing")
        raise InputError(f"{field}: none of the {len(found)} tensors in {', '.join(files)} is a weight of the "
                         f"{config.model_type} model {os.path.join(path, CONFIG_FILE)} describes (the file has "
                         f"e.g. '{sample}', the model expects e.g. '{prefix}.{next(iter(shapes))}')")
    absent = sorted(params - matched)
    if absent:
        return [f"{path}: {len(absent)} of the backbone's {len(params)} weights are not in its safetensors "
                f"(first: '{absent[0]}'); transformers initialises them at random"]
    return []


def model_warnings(spec: ModelSpec) -> list[str]:
    """What check_model found worth telling the user (ops log it)."""
    return list(check_model(spec).warnings)


def family_of(spec: ModelSpec, config=None) -> str:
    if spec.family:
        return spec.family
    config = config or load_config(spec)
    family = MODEL_TYPE_FAMILY.get(config.model_type)
    if family is None:
        raise ValueError(f"cannot tell the family of model_type '{config.model_type}'; set model.family "
                         f"to one of {sorted(BLOCK_MODULES)}")
    return family


def target_module_suffixes(family: str, blocks: list[str]) -> list[str]:
    table = BLOCK_MODULES[family]
    unknown = [b for b in blocks if b not in table]
    if unknown:
        raise ValueError(f"lora.blocks {unknown} unknown; expected some of {sorted(table)}")
    out: list[str] = []
    for block in blocks:
        for name in table[block]:
            if name not in out:
                out.append(name)
    return out


def linear_module_names(model) -> list[str]:
    import torch

    names = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.append(name)
    return names


def adapted_module_names(model, family: str, blocks: list[str]) -> list[str]:
    """Full names of the modules LoRA adapts, in model order; a clear error when none match."""
    suffixes = target_module_suffixes(family, blocks)
    linear = linear_module_names(model)
    chosen = [n for n in linear if any(n == s or n.endswith("." + s) for s in suffixes)
              and not n.split(".")[0] in ("classifier", "score", "lm_head")]
    if not chosen:
        sample = ", ".join(linear[:12])
        raise ValueError(f"lora.blocks {blocks} ({suffixes}) match no linear module of this {family} model; "
                         f"its linear modules include: {sample}")
    return chosen


def load_tokenizer(spec: ModelSpec, field: str = "model.name_or_path"):
    files = check_model(spec, field)  # first: a bad folder is refused before transformers loads
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(files.path, **hub_revision(spec))
    except Exception as exc:  # noqa: BLE001 - any failure here is about the folder the user named
        if not files.local:
            raise _hub_failure(spec.name_or_path, field, exc) from None
        raise wrap(f"{field}: cannot load the tokenizer of {files.path} ({first_line(exc)}); the folder needs "
                   f"the tokenizer's files (tokenizer.json, or its vocabulary files) as save_pretrained "
                   f"writes them", exc) from None
    if tokenizer.pad_token is None:
        # Decoder backbones classify from the last non-pad token with pad = eos (the paper's setup).
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def from_pretrained(cls, spec: ModelSpec, field: str = "model.name_or_path", **kwargs):
    """`cls.from_pretrained` on a checked folder (or hub id) with safetensors required: the one
    place osrm builds a model from saved weights. Load failures are the user's folder's."""
    files = check_model(spec, field)
    _quiet_transformers()
    try:
        # transformers prints a load report (unexpected lm_head.*, missing classifier.*) that is
        # expected when a head is added; keep it out of the user's output.
        with contextlib.redirect_stdout(io.StringIO()):
            return cls.from_pretrained(files.path, use_safetensors=True, **hub_revision(spec), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        if not files.local:
            raise _hub_failure(spec.name_or_path, field, exc) from None
        raise wrap(f"{field}: transformers cannot load the model in {files.path} ({first_line(exc)})", exc) from None


def load_classifier(spec: ModelSpec, num_labels: int, regression: bool = False, field: str = "model.name_or_path"):
    """The pretrained backbone as a sequence classifier with a freshly initialised head."""
    config = load_config(spec, field)
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"num_labels": num_labels, "dtype": torch_dtype(spec)}
    if regression:
        kwargs["problem_type"] = "regression"
    model = from_pretrained(AutoModelForSequenceClassification, spec, field, **kwargs)
    if model.config.pad_token_id is None:
        tokenizer_pad = getattr(config, "eos_token_id", None)
        if isinstance(tokenizer_pad, list):
            tokenizer_pad = tokenizer_pad[0]
        model.config.pad_token_id = tokenizer_pad
    return model


def load_encoder(spec: ModelSpec):
    """The pretrained backbone without a task head, for statistics of layer inputs."""
    from transformers import AutoModel

    if family_of(spec) == "t5":
        from transformers import T5EncoderModel

        return from_pretrained(T5EncoderModel, spec, dtype=torch_dtype(spec))
    return from_pretrained(AutoModel, spec, dtype=torch_dtype(spec))
