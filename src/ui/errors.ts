/**
 * An error as one JSON object, for --json: `{"error": {"kind", "message", "path"?}}` on stdout,
 * so a program driving osrm reads failures the way it reads results. Kinds:
 *   usage        bad command-line usage (commander's errors, a flag the command refuses)
 *   config       a config that cannot be used; path = the first bad key's path, with file and every issue
 *   input        a payload an op refused (bad input, exit 2); path = the field when the contract names it
 *   unavailable  an op this Python runtime does not have
 *   setup        the Python environment is missing or incomplete
 *   runtime      the Python process died during a call
 *   aborted      interrupted (Ctrl-C)
 *   python       an op failed in Python (not bad input)
 *   storage      the file system refused a write (disk full, read-only, permission); path = the file, code = ENOSPC, ...
 *   failed       any other failure osrm reports (a job that failed, a file it could not write)
 *   internal     an unexpected error (a bug: rerun with OSRM_DEBUG=1 for the stack)
 * The exit codes are those of the plain output.
 */
import { CommanderError } from "commander";
import { ConfigError, formatKeyPath } from "../config/errors.ts";
import { OsrmError, StorageError, UsageError } from "../errors.ts";
import { PayloadError } from "../ops/op.ts";
import { OpNotAvailableError, PythonError, RuntimeAbortedError, RuntimeDiedError, RuntimeSetupError } from "../runtime/errors.ts";

export interface ErrorRecord {
  kind: string;
  message: string;
  path?: string;
  [more: string]: unknown;
}

/** "train: training.lr: must be > 0, got -1" -> "training.lr" (the contract's messages name the field so). */
function fieldOf(message: string): string | undefined {
  return /^[a-z_]+: ((?:[A-Za-z0-9_]+|\[\d+\])(?:\.?(?:[A-Za-z0-9_]+|\[\d+\]))*): /.exec(message)?.[1];
}

export function errorRecord(error: unknown): ErrorRecord {
  if (error instanceof CommanderError) return { kind: "usage", message: error.message.replace(/^error: /, "") };
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConfigError) {
    const first = error.issues[0];
    return {
      kind: "config",
      message,
      ...(first ? { path: formatKeyPath(first.path) } : {}),
      file: error.file,
      issues: error.issues.map((i) => ({ path: formatKeyPath(i.path), message: i.message, ...(i.given !== undefined ? { given: i.given } : {}), ...(i.line !== undefined ? { line: i.line } : {}) })),
    };
  }
  if (error instanceof OpNotAvailableError) return { kind: "unavailable", message };
  if (error instanceof StorageError) return { kind: "storage", message, ...(error.path ? { path: error.path } : {}), code: error.code };
  if (error instanceof PythonError && error.osError) {
    return { kind: "storage", message, ...(error.osError.path ? { path: error.osError.path } : {}), code: error.osError.code };
  }
  if (error instanceof PythonError) {
    if (!error.badInput) return { kind: "python", message, type: error.pythonType };
    const path = error.pythonType === "PayloadError" ? fieldOf(error.pythonMessage.startsWith(`${error.op}: `) ? error.pythonMessage : `${error.op}: ${error.pythonMessage}`) : undefined;
    return { kind: "input", message, ...(path ? { path } : {}) };
  }
  if (error instanceof PayloadError) {
    const path = fieldOf(message);
    return { kind: "input", message, ...(path ? { path } : {}) };
  }
  if (error instanceof RuntimeSetupError) return { kind: "setup", message };
  if (error instanceof RuntimeDiedError) return { kind: "runtime", message };
  if (error instanceof RuntimeAbortedError) return { kind: "aborted", message };
  if (error instanceof UsageError) return { kind: "usage", message };
  if (error instanceof OsrmError) return { kind: "failed", message };
  return { kind: "internal", message };
}

export function errorJson(error: unknown): string {
  return JSON.stringify({ error: errorRecord(error) });
}
