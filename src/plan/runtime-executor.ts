/**
 * The real executor: each job's op goes to the Python runtime.
 *
 * One job at a time: the bridge (one long-lived Python, torch imported once) runs every op, except
 * `train` when isolateTrain asks for a process of its own. Several at a time: every job gets its
 * own worker process, since one bridge is one Python. A training with `training.devices` N > 1
 * runs under torchrun with N processes (DDP), always in a process runtime.
 *
 * GPUs are handed out from a pool: a job takes one GPU (a training N), runs with
 * CUDA_VISIBLE_DEVICES set to those, and gives them back when it ends; a job that finds too few
 * free waits for them, so side-by-side jobs never share a device, whatever --jobs says.
 */
import { execaSync } from "execa";
import { availableParallelism } from "node:os";
import { UsageError } from "../errors.ts";
import { opNamed } from "../ops/index.ts";
import { callOp } from "../ops/op.ts";
import { BridgeRuntime } from "../runtime/bridge.ts";
import { RuntimeAbortedError } from "../runtime/errors.ts";
import { ProcessRuntime, torchrunLauncher } from "../runtime/process.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { ExecutionContext, JobExecutor } from "./executor.ts";
import type { Job } from "./job.ts";

export interface RuntimeExecutorOptions {
  jobs: number;
  /** Device ids from CUDA_VISIBLE_DEVICES or nvidia-smi ([] on a machine without GPUs). */
  gpus: string[];
  isolateTrain: boolean;
  /** A bridge to use instead of starting one; its owner closes it (the tests' shared runtime). */
  bridge?: Runtime;
  /** CPU cores: what `training.devices` may ask for on a machine without GPUs (default: this machine's). */
  cpus?: number;
}

/** A stopped training finishes its optimizer step and writes its checkpoint in this time (under Slurm's default KillWait of 30 s). */
export const TRAIN_STOP_GRACE_MS = 25_000;

/** The GPUs CUDA_VISIBLE_DEVICES lists ("0,1,3" -> ["0", "1", "3"]). */
export function visibleGpus(value = process.env.CUDA_VISIBLE_DEVICES): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "" && s !== "-1");
}

/** The GPUs jobs may use: CUDA_VISIBLE_DEVICES when set (Slurm sets it), else what nvidia-smi lists. */
export function detectGpus(): { gpus: string[]; source: string } {
  if (process.env.CUDA_VISIBLE_DEVICES !== undefined) {
    return { gpus: visibleGpus(), source: `CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES}` };
  }
  try {
    const listed = execaSync("nvidia-smi", ["--query-gpu=index", "--format=csv,noheader"], { reject: false, timeout: 15_000 });
    if (listed.exitCode === 0) {
      const gpus = String(listed.stdout).split("\n").map((s) => s.trim()).filter(Boolean);
      return { gpus, source: "nvidia-smi" };
    }
  } catch {
    // not installed: no NVIDIA GPU
  }
  return { gpus: [], source: "no CUDA_VISIBLE_DEVICES and no nvidia-smi" };
}

/** How many processes (devices) a job runs on. */
export function devicesOf(job: Job): number {
  if (job.op !== "train") return 1;
  const training = job.payload.training as { devices?: number } | undefined;
  return training?.devices ?? 1;
}

/** Waiters for GPUs, served in order so a job needing many is not starved by small ones. */
export class GpuPool {
  private readonly free: string[];
  private readonly queue: { need: number; grant: (ids: string[]) => void }[] = [];
  constructor(gpus: string[]) {
    this.free = [...gpus];
  }

  acquire(need: number, signal: AbortSignal): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const waiter = { need, grant: resolve };
      const onAbort = () => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(new RuntimeAbortedError("waiting for a GPU"));
      };
      waiter.grant = (ids) => {
        signal.removeEventListener("abort", onAbort);
        resolve(ids);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
      this.serve();
    });
  }

  release(ids: string[]): void {
    this.free.push(...ids);
    this.serve();
  }

  private serve(): void {
    while (this.queue.length > 0 && this.queue[0]!.need <= this.free.length) {
      const waiter = this.queue.shift()!;
      waiter.grant(this.free.splice(0, waiter.need));
    }
  }
}

export class RuntimeExecutor implements JobExecutor {
  private bridge: Runtime | null = null;
  private readonly pool: GpuPool;
  constructor(private readonly options: RuntimeExecutorOptions) {
    this.bridge = options.bridge ?? null;
    this.pool = new GpuPool(options.gpus);
  }

  /** Refuses, before anything runs, a training that asks for more devices than there are or that cannot split its batch. */
  check(jobs: Job[]): void {
    const { gpus } = this.options;
    const cpus = this.options.cpus ?? availableParallelism();
    for (const job of jobs) {
      const devices = devicesOf(job);
      if (devices === 1) continue;
      const training = job.payload.training as { batch_size: number };
      if (gpus.length > 0 && devices > gpus.length) {
        throw new UsageError(`training.devices ${devices} (${job.label}): this machine has ${gpus.length} GPU(s) to give it (${gpus.join(", ")})`);
      }
      if (gpus.length === 0 && devices > cpus) {
        throw new UsageError(`training.devices ${devices} (${job.label}): no GPU was found, so devices are CPU processes, and this machine has ${cpus} CPU core(s)`);
      }
      if (training.batch_size % devices !== 0) {
        throw new UsageError(`training.batch_size ${training.batch_size} (${job.label}) is not a multiple of training.devices ${devices}: each process runs batch_size / devices examples`);
      }
    }
  }

  private runtimeFor(job: Job, context: ExecutionContext, ids: string[]): Runtime {
    const { jobs, gpus, isolateTrain } = this.options;
    const devices = devicesOf(job);
    const train = job.op === "train";
    const env = ids.length > 0 ? { CUDA_VISIBLE_DEVICES: ids.join(",") } : {};
    const stopGraceMs = train ? TRAIN_STOP_GRACE_MS : undefined;
    if (devices > 1) return new ProcessRuntime({ launcher: torchrunLauncher(devices), env, logFile: context.logFile, stopGraceMs });
    if (jobs > 1 || gpus.length > 1) return new ProcessRuntime({ env, logFile: context.logFile, stopGraceMs });
    if (train && isolateTrain) return new ProcessRuntime({ logFile: context.logFile, stopGraceMs });
    return (this.bridge ??= new BridgeRuntime());
  }

  async execute(job: Job, context: ExecutionContext): Promise<unknown> {
    // GPUs are assigned only when jobs must be kept apart; one job alone sees the machine as it is.
    const pinned = this.options.gpus.length > 0 && (this.options.jobs > 1 || this.options.gpus.length > 1 || devicesOf(job) > 1);
    const ids = pinned ? await this.pool.acquire(devicesOf(job), context.signal) : [];
    try {
      return await callOp(this.runtimeFor(job, context, ids), opNamed(job.op), context.payload, { onProgress: context.onProgress, signal: context.signal });
    } finally {
      if (ids.length > 0) this.pool.release(ids);
    }
  }

  async close(): Promise<void> {
    if (this.bridge && this.bridge !== this.options.bridge) await this.bridge.close();
    this.bridge = null;
  }
}
