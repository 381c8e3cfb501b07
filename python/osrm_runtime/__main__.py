"""Worker-process entry: `python -m osrm_runtime OP --payload in.json --result out.json`.

Progress goes to the original stdout as JSON lines behind a marker (so torchrun's line prefixes
do not break parsing); everything else that writes to stdout is sent to stderr. The result
envelope is written atomically to --result. Under torchrun only rank 0 reports and writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .atomic import write_text_atomic
from .dispatch import dispatch

PROGRESS_MARKER = "@@osrm-progress "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m osrm_runtime")
    parser.add_argument("op")
    parser.add_argument("--payload", help="JSON file with the op's payload")
    parser.add_argument("--result", help="where to write the JSON result envelope")
    args = parser.parse_args(argv)

    rank = int(os.environ.get("RANK", "0"))
    progress_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def sink(line: str) -> None:
        if rank == 0:
            progress_out.write(PROGRESS_MARKER + line + "\n")

    payload_json = "{}"
    if args.payload:
        with open(args.payload, encoding="utf-8") as f:
            payload_json = f.read()
    envelope = dispatch(args.op, payload_json, sink)
    if args.result and rank == 0:
        write_text_atomic(args.result, envelope)
    elif not args.result and rank == 0:
        progress_out.write(envelope + "\n")
    return 0 if json.loads(envelope).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
