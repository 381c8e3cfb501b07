import { OsrmError, StorageError, STORAGE_CODES } from "../errors.ts";

/** What the Python side adds to an error beyond its type and message. */
export interface PythonErrorExtra {
  /** The library's own text behind an input error (transformers, safetensors, csv): for the job log. */
  detail?: string;
  /** An OS refusal while writing (disk full, read-only, permission denied): its code and path. */
  osError?: { code: string; path: string | null };
}

/**
 * A Python exception raised inside an op, carried across with its type and traceback. The ops
 * raise ValueError (and its subclasses, such as a payload that fails the contract) for bad input
 * — a missing column, a shape mismatch, a bad hyperparameter, an unreadable file — which is the
 * user's to fix: exit code 2 like any bad usage, and the message is the op's own, which names the
 * field, file, row or tensor. A library's own text behind it is in `detail` (for the job log,
 * never the screen). Everything else is a failure (1), shown with its Python type.
 */
export class PythonError extends OsrmError {
  override readonly exitCode: number;
  readonly detail?: string;
  readonly osError?: { code: string; path: string | null };
  constructor(
    readonly op: string,
    readonly pythonType: string,
    readonly pythonMessage: string,
    readonly traceback: string,
    readonly pythonModule?: string,
    readonly badInput = pythonType === "ValueError",
    extra: PythonErrorExtra = {},
  ) {
    // A contract error already starts with the op ("train: training.lr: must be > 0, got -1").
    const plain = badInput || extra.osError !== undefined;
    super(plain ? (pythonMessage.startsWith(`${op}: `) ? pythonMessage : `${op}: ${pythonMessage}`) : `${op}: ${pythonType}: ${pythonMessage}`);
    this.exitCode = badInput ? 2 : 1;
    this.detail = extra.detail;
    this.osError = extra.osError;
  }
}

/** The op name is not provided by this runtime (yet). */
export class OpNotAvailableError extends PythonError {}

/**
 * A failure that every later job would hit too — the run folder's disk is full, read-only or not
 * writable — as {code, path}; null for failures of one job's own.
 */
export function storageFailure(error: unknown): { code: string; path: string | null } | null {
  if (error instanceof StorageError) return { code: error.code, path: error.path ?? null };
  if (error instanceof PythonError && error.osError && error.osError.code in STORAGE_CODES) return error.osError;
  return null;
}

/** The Python process died (segfault, os._exit, OOM kill) while a call was in flight. */
export class RuntimeDiedError extends OsrmError {
  constructor(
    readonly op: string,
    readonly exitCode_: number | null,
    readonly signal: string | null,
    readonly stderrTail = "",
  ) {
    const how = signal ? `signal ${signal}` : `exit code ${exitCode_}`;
    const tail = stderrTail.trim() ? `\nlast output of the runtime:\n${stderrTail.trim()}` : "";
    super(
      `the Python runtime died during '${op}' (${how}); ` +
        `it may have run out of memory or crashed in native code. The next call starts a fresh runtime.${tail}`,
    );
  }
}

/** The call was aborted by the caller (Ctrl-C or an AbortSignal); its Python work was stopped. */
export class RuntimeAbortedError extends OsrmError {
  constructor(readonly op: string) {
    super(`'${op}' was aborted`);
  }
}

/** The Python environment is missing or incomplete. */
export class RuntimeSetupError extends OsrmError {}
