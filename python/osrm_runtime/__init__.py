"""osrm_runtime: the tensor side of the osrm toolkit (PyTorch, transformers, peft).

TypeScript reaches it through one entry point, `dispatch(op, payload_json, progress)`, either
in-process (pythonia, see bridge.py) or as a worker process (`python -m osrm_runtime OP`).
Operations are registered by name in registry.py and import their heavy modules lazily, so the
runtime starts fast and a no-op round trip never imports torch.
"""

__version__ = "0.1.0"
