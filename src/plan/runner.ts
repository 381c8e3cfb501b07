/**
 * Runs what a plan still needs, in dependency order, up to `jobs` at a time.
 *
 * Safe to interrupt and to run twice at once: each job runs under its own lock, a finished job
 * (done.json) is skipped and never rewritten, and the leftovers of an interrupted attempt are
 * cleared when the job runs again. A failed job stops only the jobs that depend on it (each
 * blocked job records which failures kept it from starting); an op the Python runtime does not
 * provide yet stops every job of that op, reported once. A failure every later job would hit too
 * (the run folder's disk is full, read-only or not writable) stops the run from starting any more:
 * the jobs running finish, the finished stay finished, the rest are reported as not started.
 */
import { asStorageError } from "../errors.ts";
import { OpNotAvailableError, PythonError, storageFailure } from "../runtime/errors.ts";
import type { ProgressEvent } from "../runtime/protocol.ts";
import { JobStore } from "../store/job-store.ts";
import type { ExecutionContext, JobExecutor } from "./executor.ts";
import type { Job } from "./job.ts";
import { resolvePayload } from "./payload.ts";
import type { Plan } from "./planner.ts";

export type RunEvent =
  | { type: "start"; job: Job; worker: number }
  | { type: "done"; job: Job; seconds: number }
  | { type: "failed"; job: Job; error: Error }
  | { type: "waiting"; job: Job; owner: string }
  | { type: "blocked"; job: Job; reason: string; causes: string[] };

export interface RunOptions {
  /** Jobs run side by side (default 1). */
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  onProgress?: (job: Job, event: ProgressEvent) => void;
  /** How often a job locked by another process is checked again. */
  pollMs?: number;
  /** Run only these jobs (a Slurm job runs one); the others are inputs, done or not, run elsewhere. */
  only?: string[];
}

export interface RunSummary {
  total: number;
  /** Finished before this run started. */
  alreadyDone: number;
  /** Keys this run executed to completion. */
  ran: string[];
  failed: { job: Job; error: Error }[];
  /**
   * Not run because an input failed, the run stopped, or its op is not available; `causes` are
   * the keys of the failed jobs that kept it from starting (empty for an unavailable op).
   */
  blocked: { job: Job; reason: string; causes: string[] }[];
  /** The failure that stopped the run from starting more jobs (a full or read-only run folder). */
  halted: { job: Job; error: Error } | null;
  /** Ops the Python runtime does not provide yet, with the message it gave. */
  unavailable: Map<string, string>;
  aborted: boolean;
}

type State = "pending" | "running" | "done" | "failed" | "blocked" | "elsewhere";

/**
 * Ops that continue an interrupted attempt from their own checkpoints in `out` (the train op saves
 * one per epoch, stamped with a fingerprint of its settings): their staging folder is kept, so a
 * killed multi-hour training resumes from its last epoch instead of starting over.
 */
const RESUMES_FROM_OUT = new Set<string>(["train"]);

export async function runPlan(plan: Plan, executor: JobExecutor, options: RunOptions = {}): Promise<RunSummary> {
  const store = new JobStore(plan.experiment.output);
  const slots = Math.max(1, options.jobs ?? 1);
  const signal = options.signal ?? new AbortController().signal;
  const emit = options.onEvent ?? (() => {});
  const pollMs = options.pollMs ?? 1000;

  const state = new Map<string, State>();
  const only = options.only ? new Set(options.only) : null;
  for (const job of plan.jobs) state.set(job.key, store.isDone(job.key) ? "done" : only && !only.has(job.key) ? "elsewhere" : "pending");
  const summary: RunSummary = {
    total: plan.jobs.length,
    alreadyDone: [...state.values()].filter((s) => s === "done").length,
    ran: [],
    failed: [],
    blocked: [],
    unavailable: new Map(),
    aborted: false,
    halted: null,
  };
  const causesOf = new Map<string, string[]>();
  /** Jobs another process holds: not retried before this time. */
  const retryAt = new Map<string, number>();
  const waitedFor = new Set<string>();
  const freeSlots = Array.from({ length: slots }, (_, i) => i);
  const running = new Set<Promise<void>>();

  const block = (job: Job, reason: string, causes: string[] = []) => {
    state.set(job.key, "blocked");
    causesOf.set(job.key, causes);
    summary.blocked.push({ job, reason, causes });
    emit({ type: "blocked", job, reason, causes });
  };

  const attempt = async (job: Job, worker: number): Promise<void> => {
    let lock: ReturnType<JobStore["tryLock"]> = null;
    try {
      lock = store.tryLock(job.key);
      if (!lock) {
        state.set(job.key, "pending");
        retryAt.set(job.key, Date.now() + pollMs);
        // Once per job: the lock is polled every pollMs, and a line per poll drowned the output.
        if (!waitedFor.has(job.key)) emit({ type: "waiting", job, owner: store.layout.lockFile(job.key) });
        waitedFor.add(job.key);
        return;
      }
      if (store.isDone(job.key)) {
        state.set(job.key, "done"); // finished by another process meanwhile
        return;
      }
      emit({ type: "start", job, worker });
      const started = Date.now();
      const sources = { outOf: (key: string) => store.outDir(key), resultOf: (key: string) => store.result(key) };
      const planned = resolvePayload(job, { ...sources, ownOut: store.outDir(job.key) });
      // The identity as hashed (digests, input hashes); the payload's paths are where things were this time.
      const record = { key: job.key, kind: job.kind, op: job.op, label: job.label, hash: job.hash, inputs: job.inputs, identity: plan.identityOf(job), payload: planned, pid: process.pid };
      const staging = store.begin(job.key, record, { keepStaging: RESUMES_FROM_OUT.has(job.op) });
      const context: ExecutionContext = {
        payload: resolvePayload(job, { ...sources, ownOut: staging }),
        worker,
        logFile: store.layout.file(job.key, "log"),
        onProgress: (event) => {
          try {
            store.log(job.key, JSON.stringify(event));
          } catch {
            // A progress line that cannot be logged (a full disk) must not throw into the op's
            // callback: the op's own writes, or finishing the job, report the disk.
          }
          options.onProgress?.(job, event);
        },
        signal,
      };
      const result = await executor.execute(job, context);
      store.finish(job.key, job.hash, started, result, metricsOf(job, result, store));
      state.set(job.key, "done");
      summary.ran.push(job.key);
      emit({ type: "done", job, seconds: (Date.now() - started) / 1000 });
    } catch (error) {
      // A file-system refusal in TypeScript (store, report) arrives as a bare Node error: name it.
      const err = asStorageError(error) ?? (error instanceof Error ? error : new Error(String(error)));
      try {
        store.log(job.key, failureLog(err));
      } catch {
        // the folder may be gone, or the disk full; the failure is reported anyway
      }
      state.set(job.key, "failed");
      if (signal.aborted) return;
      if (err instanceof OpNotAvailableError) {
        if (!summary.unavailable.has(job.op)) summary.unavailable.set(job.op, err.pythonMessage);
        block(job, `the Python op '${job.op}' is not available yet`);
        return;
      }
      summary.failed.push({ job, error: err });
      if (storageFailure(err) && !summary.halted) summary.halted = { job, error: err };
      emit({ type: "failed", job, error: err });
    } finally {
      lock?.release();
    }
  };

  const start = (job: Job) => {
    const worker = freeSlots.shift()!;
    state.set(job.key, "running");
    const task = attempt(job, worker).finally(() => {
      freeSlots.push(worker);
      freeSlots.sort((a, b) => a - b);
      running.delete(task);
    });
    running.add(task);
  };

  for (;;) {
    if (!signal.aborted) {
      for (const job of plan.jobs) {
        if (state.get(job.key) !== "pending") continue;
        const inputs = job.inputs.map((key) => state.get(key));
        if (inputs.some((s) => s === "failed" || s === "blocked")) {
          const causes = job.inputs.flatMap((key) => (state.get(key) === "failed" ? [key] : state.get(key) === "blocked" ? (causesOf.get(key) ?? []) : []));
          block(job, "an input job did not finish", [...new Set(causes)]);
          continue;
        }
        if (inputs.some((s) => s === "elsewhere")) {
          // Run with `only` (one Slurm job runs one job): its inputs must be done already.
          block(job, "an input job is not done (it is not among the jobs this run executes)", []);
          continue;
        }
        if (summary.halted) {
          block(job, `the run stopped: ${summary.halted.error.message.split("\n")[0]}`, [summary.halted.job.key]);
          continue;
        }
        if (summary.unavailable.has(job.op)) {
          block(job, `the Python op '${job.op}' is not available yet`);
          continue;
        }
        if (freeSlots.length === 0) continue;
        if (inputs.every((s) => s === "done") && (retryAt.get(job.key) ?? 0) <= Date.now()) start(job);
      }
    }
    if (running.size > 0) {
      await Promise.race(running);
      continue;
    }
    const waiting = plan.jobs.filter((job) => state.get(job.key) === "pending" && retryAt.has(job.key));
    if (signal.aborted || waiting.length === 0) break;
    const next = Math.min(...waiting.map((job) => retryAt.get(job.key)!));
    await new Promise((resolve) => setTimeout(resolve, Math.max(10, next - Date.now())));
  }
  summary.aborted = signal.aborted;
  settleCauses(plan, summary, state);
  return summary;
}

/**
 * Each blocked job's causes, once the run is over: every failed job upstream of it (a job
 * downstream of two failures needs both fixed), or the failure that stopped the run. Computed at
 * the end, over the whole graph, so it does not depend on which failure the scheduler saw first.
 */
function settleCauses(plan: Plan, summary: RunSummary, state: Map<string, State>): void {
  const failed = new Set(summary.failed.map((f) => f.job.key));
  const causes = new Map<string, Set<string>>();
  // plan.jobs lists every job after its inputs
  for (const job of plan.jobs) {
    if (state.get(job.key) !== "blocked") continue;
    const own = new Set<string>();
    for (const input of job.inputs) {
      if (failed.has(input)) own.add(input);
      for (const cause of causes.get(input) ?? []) own.add(cause);
    }
    if (own.size === 0 && summary.halted && !summary.unavailable.has(job.op)) own.add(summary.halted.job.key);
    causes.set(job.key, own);
  }
  for (const blocked of summary.blocked) blocked.causes = [...(causes.get(blocked.job.key) ?? [])];
}

/**
 * What the job's log keeps of a failure: the message, and for a Python error the library's own
 * text behind it and the traceback — what the screen leaves out.
 */
function failureLog(error: Error): string {
  const lines = [`failed: ${error.message}`];
  if (error instanceof PythonError) {
    if (error.detail) lines.push(`detail: ${error.detail}`);
    if (error.traceback) lines.push(`traceback (${error.pythonType}):`, error.traceback.trimEnd());
  }
  return lines.join("\n");
}

/** Scores to keep beside the job: the evaluation's result, and the op's own file for training. */
function metricsOf(job: Job, result: unknown, store: JobStore): unknown | undefined {
  if (job.kind === "evaluate") return result;
  if (job.kind === "train") return store.stagedFile(job.key, "metrics.json") ?? undefined;
  return undefined;
}
