import type { ProgressEvent } from "./protocol.ts";
import { ResultEnvelope } from "./protocol.ts";
import { OpNotAvailableError, PythonError } from "./errors.ts";
import { cacheDir, dataPackagesDir } from "./paths.ts";

export interface CallOptions {
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * The one boundary to Python: a named op, a JSON payload in, a JSON value out. Tensors and
 * weights never cross it; they travel as safetensors files named in payloads and results.
 */
export interface Runtime {
  readonly kind: "bridge" | "process";
  call<T = unknown>(op: string, payload?: unknown, options?: CallOptions): Promise<T>;
  close(): Promise<void>;
}

/** Environment of every runtime process: our package importable, library chatter down. */
export function runtimeEnvironment(pythonSourceDir: string): NodeJS.ProcessEnv {
  const sep = process.platform === "win32" ? ";" : ":";
  const existing = process.env.PYTHONPATH;
  return {
    PYTHONPATH: existing ? `${pythonSourceDir}${sep}${existing}` : pythonSourceDir,
    PYTHONUNBUFFERED: "1",
    TRANSFORMERS_VERBOSITY: process.env.TRANSFORMERS_VERBOSITY ?? "error",
    TOKENIZERS_PARALLELISM: process.env.TOKENIZERS_PARALLELISM ?? "false",
    // transformers' "Loading weights" bars would interleave with our own progress display.
    HF_HUB_DISABLE_PROGRESS_BARS: process.env.HF_HUB_DISABLE_PROGRESS_BARS ?? "1",
    // Where the demo task suite is built from (npm data packages) and cached.
    OSRM_NODE_MODULES: dataPackagesDir(),
    OSRM_CACHE_DIR: cacheDir(),
  };
}

/** Turns the Python envelope into a value or a typed error. */
export function unwrapEnvelope<T>(op: string, text: string): T {
  const envelope = ResultEnvelope.parse(JSON.parse(text));
  if (envelope.ok) return envelope.value as T;
  const ErrorClass = envelope.type === "OpNotAvailable" ? OpNotAvailableError : PythonError;
  throw new ErrorClass(op, envelope.type, envelope.message, envelope.traceback, envelope.module, envelope.bad_input ?? envelope.type === "ValueError", {
    detail: envelope.detail,
    osError: envelope.os_error,
  });
}

export function parseProgressLine(line: string): ProgressEvent | undefined {
  try {
    const parsed = JSON.parse(line);
    return parsed && typeof parsed === "object" ? (parsed as ProgressEvent) : undefined;
  } catch {
    return undefined;
  }
}
