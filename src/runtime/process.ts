/**
 * The worker-process runtime: each call runs `python -m osrm_runtime OP` in its own process
 * (optionally under torchrun for several GPUs). Payload and result travel as JSON files; progress
 * arrives on stdout as marked JSON lines. Isolation for long or multi-GPU work.
 */
import { execa } from "execa";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeAbortedError, RuntimeDiedError } from "./errors.ts";
import { pythonSourceDir } from "./paths.ts";
import { PROGRESS_MARKER } from "./protocol.ts";
import type { CallOptions, Runtime } from "./runtime.ts";
import { parseProgressLine, runtimeEnvironment, unwrapEnvelope } from "./runtime.ts";
import { ensureRuntime } from "./setup.ts";

export interface ProcessRuntimeOptions {
  /**
   * Arguments placed between the interpreter and `-m osrm_runtime`, e.g.
   * ["-m", "torch.distributed.run", "--nproc_per_node=4"] to run the op under torchrun.
   */
  launcher?: string[];
  /** Extra environment (CUDA_VISIBLE_DEVICES for one job per GPU, say). */
  env?: NodeJS.ProcessEnv;
  /** Where the worker's stderr is appended (a job's log); otherwise it is kept in memory only. */
  logFile?: string;
}

export function torchrunLauncher(processesPerNode: number): string[] {
  return ["-m", "torch.distributed.run", "--standalone", `--nproc_per_node=${processesPerNode}`];
}

export class ProcessRuntime implements Runtime {
  readonly kind = "process" as const;
  constructor(private readonly options: ProcessRuntimeOptions = {}) {}

  async call<T = unknown>(op: string, payload: unknown = {}, options: CallOptions = {}): Promise<T> {
    const { signal, onProgress } = options;
    if (signal?.aborted) throw new RuntimeAbortedError(op);
    const env = await ensureRuntime({ signal });
    const work = mkdtempSync(join(tmpdir(), "osrm-call-"));
    const payloadFile = join(work, "payload.json");
    const resultFile = join(work, "result.json");
    writeFileSync(payloadFile, JSON.stringify(payload ?? {}));
    try {
      const child = execa(
        env.python,
        [...(this.options.launcher ?? []), "-m", "osrm_runtime", op, "--payload", payloadFile, "--result", resultFile],
        {
          env: { ...runtimeEnvironment(pythonSourceDir), ...this.options.env },
          cancelSignal: signal,
          forceKillAfterDelay: 3000,
          reject: false,
          buffer: { stdout: false, stderr: false },
          stderr: this.options.logFile ? ["pipe", { file: this.options.logFile, append: true }] : "pipe",
        },
      );
      let stderrTail = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString()).slice(-3000);
      });
      let pending = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const at = line.indexOf(PROGRESS_MARKER);
          if (at < 0 || !onProgress) continue;
          const event = parseProgressLine(line.slice(at + PROGRESS_MARKER.length));
          if (event) onProgress(event);
        }
      });
      const result = await child;
      if (result.isCanceled || signal?.aborted) throw new RuntimeAbortedError(op);
      if (!existsSync(resultFile)) {
        throw new RuntimeDiedError(op, result.exitCode ?? null, result.signal ?? null, stderrTail.split("\n").slice(-10).join("\n"));
      }
      return unwrapEnvelope<T>(op, readFileSync(resultFile, "utf8"));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {}
}
