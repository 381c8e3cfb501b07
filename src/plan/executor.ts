/**
 * What runs one job's op. The runner owns everything around it (locks, folders, order); an
 * executor only makes the call. The real one (runtime-executor.ts) calls the Python runtime;
 * tests use executors that write artifacts themselves.
 */
import type { ProgressEvent } from "../runtime/protocol.ts";
import type { Job, JobKind } from "./job.ts";

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
  /** Throws (a UsageError naming the setting) when a job cannot run here: called before any job starts. */
  check?(jobs: Job[]): void;
  close?(): Promise<void>;
}

/**
 * Hands each job to the executor of its kind, or to `fallback` (the Python runtime): how the
 * runner is given the kinds that run in TypeScript, such as the report, without knowing them.
 */
export class ExecutorsByKind implements JobExecutor {
  constructor(
    private readonly fallback: JobExecutor,
    private readonly kinds: Partial<Record<JobKind, JobExecutor>>,
  ) {}

  execute(job: Job, context: ExecutionContext): Promise<unknown> {
    return (this.kinds[job.kind] ?? this.fallback).execute(job, context);
  }

  check(jobs: Job[]): void {
    this.fallback.check?.(jobs.filter((job) => !this.kinds[job.kind]));
    for (const [kind, executor] of Object.entries(this.kinds)) executor?.check?.(jobs.filter((job) => job.kind === kind));
  }

  async close(): Promise<void> {
    for (const executor of [this.fallback, ...Object.values(this.kinds)]) await executor?.close?.();
  }
}
