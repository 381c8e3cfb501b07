/**
 * The real executor: each job's op goes to the Python runtime.
 *
 * One job at a time: the bridge (one long-lived Python, torch imported once) runs every op, except
 * `train` when isolateTrain asks for a process of its own. Several at a time: every job gets its
 * own worker process, since one bridge is one Python; with several GPUs listed in
 * CUDA_VISIBLE_DEVICES, worker slot i sees only GPU i, so side-by-side jobs never share a device.
 */
import { opNamed } from "../ops/index.ts";
import { callOp } from "../ops/op.ts";
import { BridgeRuntime } from "../runtime/bridge.ts";
import { ProcessRuntime } from "../runtime/process.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { ExecutionContext, JobExecutor } from "./executor.ts";
import type { Job } from "./job.ts";

export interface RuntimeExecutorOptions {
  jobs: number;
  /** Device ids from CUDA_VISIBLE_DEVICES ([] when unset). */
  gpus: string[];
  isolateTrain: boolean;
  /** A bridge to use instead of starting one; its owner closes it (the tests' shared runtime). */
  bridge?: Runtime;
}

/** The GPUs CUDA_VISIBLE_DEVICES lists ("0,1,3" -> ["0", "1", "3"]). */
export function visibleGpus(value = process.env.CUDA_VISIBLE_DEVICES): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "" && s !== "-1");
}

export class RuntimeExecutor implements JobExecutor {
  private bridge: Runtime | null = null;
  constructor(private readonly options: RuntimeExecutorOptions) {
    this.bridge = options.bridge ?? null;
  }

  private runtimeFor(job: Job, context: ExecutionContext): Runtime {
    const { jobs, gpus, isolateTrain } = this.options;
    if (jobs > 1 || gpus.length > 1) {
      const gpu = gpus.length > 0 ? gpus[context.worker % gpus.length] : undefined;
      return new ProcessRuntime({ env: gpu !== undefined ? { CUDA_VISIBLE_DEVICES: gpu } : {}, logFile: context.logFile });
    }
    if (job.op === "train" && isolateTrain) return new ProcessRuntime({ logFile: context.logFile });
    return (this.bridge ??= new BridgeRuntime());
  }

  async execute(job: Job, context: ExecutionContext): Promise<unknown> {
    return await callOp(this.runtimeFor(job, context), opNamed(job.op), context.payload, { onProgress: context.onProgress, signal: context.signal });
  }

  async close(): Promise<void> {
    if (this.bridge && this.bridge !== this.options.bridge) await this.bridge.close();
    this.bridge = null;
  }
}
