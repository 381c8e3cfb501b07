/**
 * What runs one job's op. The runner owns everything around it (locks, folders, order); an
 * executor only makes the call. The real one (runtime-executor.ts) calls the Python runtime;
 * tests use executors that write artifacts themselves.
 */
import type { ProgressEvent } from "../runtime/protocol.ts";
import type { Job } from "./job.ts";

export interface ExecutionContext {
  /** The op's payload, references filled in; `out`/`cache_dir` point at the staging folder. */
  payload: Record<string, unknown>;
  /** The worker slot, 0..jobs-1 (the real executor gives each slot its own GPU). */
  worker: number;
  /** The job's log file: a runtime may append the op's own output to it. */
  logFile: string;
  onProgress(event: ProgressEvent): void;
  signal: AbortSignal;
}

export interface JobExecutor {
  /** Runs the op and returns its result (plain JSON). */
  execute(job: Job, context: ExecutionContext): Promise<unknown>;
  close?(): Promise<void>;
}
