/**
 * The worker-process runtime: each call runs `python -m osrm_runtime OP` in its own process
 * (optionally under torchrun for several devices). Payload and result travel as JSON files;
 * progress arrives on stdout as marked JSON lines. Isolation for long or multi-device work.
 *
 * The worker runs in a process group of its own. Stopping a call (Ctrl-C, SIGTERM, an abort)
 * sends SIGTERM to the whole group — torchrun and every rank, as Slurm signals a job's
 * processes — so a training finishes its step and checkpoints; after `stopGraceMs` the group is
 * killed. When a call ends, whatever is left of its group is killed, so no rank outlives its job.
 */
import { execa } from "execa";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OsrmError } from "../errors.ts";
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
  /** How long a stopped worker may take to finish (a training writes its checkpoint) before it is killed (default 3 s). */
  stopGraceMs?: number;
}

export function torchrunLauncher(processesPerNode: number): string[] {
  return ["-m", "torch.distributed.run", "--standalone", `--nproc_per_node=${processesPerNode}`];
}

/** A rank under torchrun died or failed: torchrun stopped the others and the call fails. */
export class DistributedWorkerError extends OsrmError {
  constructor(
    readonly op: string,
    readonly rank: number,
    readonly world: number | null,
    readonly how: string,
    detail: string,
  ) {
    super(`'${op}' failed under torchrun: rank ${rank}${world ? ` of ${world}` : ""} ${how}; torchrun stopped the other ranks and no process of the job is left${detail ? `\n${detail}` : ""}`);
  }
}

/**
 * torchrun's failure summary ("Root Cause (first observed failure)": rank, exitcode, signal) as
 * one line, or null when the output holds none.
 */
export function torchrunRootCause(stderr: string): { rank: number; how: string } | null {
  const at = stderr.lastIndexOf("Root Cause");
  if (at < 0) return null;
  const block = stderr.slice(at);
  const rank = /rank\s*:\s*(\d+)/.exec(block);
  const code = /exitcode\s*:\s*(-?\d+)(?:\s*\(pid:\s*(\d+)\))?(?:\s*\((SIG[A-Z]+)\))?/.exec(block);
  const host = /host\s*:\s*(\S+)/.exec(block);
  if (!rank || !code) return null;
  const exit = Number(code[1]);
  const how = exit < 0 || code[3] ? `was killed by ${code[3] ?? `signal ${-exit}`}` : `exited with code ${exit}`;
  return { rank: Number(rank[1]), how: `${how}${code[2] ? ` (pid ${code[2]}${host ? ` on ${host[1]}` : ""})` : ""}` };
}

/** Process groups of calls in flight: killed if this process exits before they end. */
const liveGroups = new Set<number>();
let exitHook = false;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is empty already
  }
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
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => liveGroups.forEach((pgid) => signalGroup(pgid, "SIGKILL")));
    }
    let killTimer: NodeJS.Timeout | undefined;
    let group: number | undefined;
    const onAbort = () => {
      if (group === undefined) return;
      signalGroup(group, "SIGTERM");
      const pgid = group;
      killTimer = setTimeout(() => signalGroup(pgid, "SIGKILL"), this.options.stopGraceMs ?? 3000);
    };
    try {
      const launcher = this.options.launcher ?? [];
      const child = execa(env.python, [...launcher, "-m", "osrm_runtime", op, "--payload", payloadFile, "--result", resultFile], {
        env: { ...runtimeEnvironment(pythonSourceDir), ...this.options.env },
        // Its own process group: signals reach torchrun's ranks too, and leftovers can be killed.
        detached: true,
        reject: false,
        buffer: { stdout: false, stderr: false },
        stderr: this.options.logFile ? ["pipe", { file: this.options.logFile, append: true }] : "pipe",
      });
      group = child.pid;
      if (group !== undefined) liveGroups.add(group);
      signal?.addEventListener("abort", onAbort, { once: true });
      let stderrTail = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString()).slice(-8000);
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
      if (signal?.aborted) throw new RuntimeAbortedError(op);
      if (launcher.includes("torch.distributed.run") && result.exitCode !== 0) {
        const cause = torchrunRootCause(stderrTail);
        if (cause) {
          const world = Number(/--nproc_per_node=(\d+)/.exec(launcher.join(" "))?.[1]) || null;
          let detail = "";
          if (existsSync(resultFile)) {
            try {
              unwrapEnvelope(op, readFileSync(resultFile, "utf8"));
            } catch (error) {
              detail = `rank 0 reported: ${(error as Error).message.split("\n")[0]}`;
            }
          }
          throw new DistributedWorkerError(op, cause.rank, world, cause.how, detail);
        }
      }
      if (!existsSync(resultFile)) {
        throw new RuntimeDiedError(op, result.exitCode ?? null, result.signal ?? null, stderrTail.split("\n").slice(-10).join("\n"));
      }
      return unwrapEnvelope<T>(op, readFileSync(resultFile, "utf8"));
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (group !== undefined) {
        signalGroup(group, "SIGKILL");
        liveGroups.delete(group);
      }
      rmSync(work, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {}
}
