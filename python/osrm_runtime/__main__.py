"""Worker-process entry: `python -m osrm_runtime OP --payload in.json --result out.json`, and
`python -m osrm_runtime --help`, which lists the ops.

Progress goes to the original stdout as JSON lines behind a marker (so torchrun's line prefixes
do not break parsing); everything else that writes to stdout is sent to stderr. The result
envelope is written atomically to --result. Under torchrun only rank 0 reports and writes. The
exit code is 0 on success, 2 for bad input (a payload the contract refuses, a missing file), 1
for any other failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PROGRESS_MARKER = "@@osrm-progress "


def _ops_listing() -> str:
    from .contract import op_summaries
    from .registry import available_ops

    summaries = op_summaries()
    names = sorted(available_ops())
    width = max(len(n) for n in names)
    return "\n".join(f"  {name.ljust(width)}  {summaries.get(name, '')}" for name in names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m osrm_runtime",
        description="Run one op of the osrm runtime on a JSON payload (docs/ops-reference.md has every payload).",
        epilog="ops:\n" + _ops_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("op", help="the op to run")
    parser.add_argument("--payload", help="JSON file with the op's payload (default: {})")
    parser.add_argument("--result", help="where to write the JSON result envelope (default: stdout)")
    args = parser.parse_args(argv)

    from .atomic import write_text_atomic
    from .dispatch import dispatch

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
    outcome = json.loads(envelope)
    return 0 if outcome.get("ok") else 2 if outcome.get("bad_input") else 1


if __name__ == "__main__":
    sys.exit(main())
