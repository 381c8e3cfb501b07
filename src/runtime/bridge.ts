/**
 * The in-process runtime: one long-lived Python through pythonia, started on the first call.
 *
 * pythonia's known pitfalls (docs/runtime.md) shape this file: it spawns Python when its module
 * loads, using PYTHON_BIN at that moment, so it is imported lazily after the environment is set;
 * exceptions crossing it lose their messages, so every op returns a JSON envelope string; and a
 * dead child leaves calls waiting forever, so we watch its exit and fail pending calls at once.
 */
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { RuntimeAbortedError, RuntimeDiedError } from "./errors.ts";
import { pythonSourceDir } from "./paths.ts";
import type { CallOptions, Runtime } from "./runtime.ts";
import { parseProgressLine, runtimeEnvironment, unwrapEnvelope } from "./runtime.ts";
import { ensureRuntime } from "./setup.ts";

interface Pythonia {
  python: ((module: string) => Promise<BridgeModule>) & { exit(): void };
  com: { proc: ChildProcess | null; start(): void; register(event: string, handler: (message: unknown) => unknown): void };
}
/** pythonia's internal bridge object (globalThis.__pythonBridge), needed to restart it. */
interface PythoniaBridge {
  jsi: { onMessage(message: unknown): unknown };
  loop: ReturnType<typeof setInterval>;
  /** Ids of finalised proxies waiting to be freed in Python. */
  freeable: number[];
}
interface BridgeModule {
  dispatch$(op: string, payload: string, progress: ((line: string) => void) | null, kw: { $timeout: number }): Promise<string>;
  pid(): Promise<number>;
}
interface Live {
  module: BridgeModule;
  proc: ChildProcess;
  pid: number;
  failPending: Set<(error: Error) => void>;
}

export class BridgeRuntime implements Runtime {
  readonly kind = "bridge" as const;
  private live: Promise<Live> | null = null;
  private pythonia: Pythonia | null = null;

  /** The Python process id, starting the runtime if needed (used by tests and doctor). */
  async pid(): Promise<number> {
    return (await this.start()).pid;
  }

  async call<T = unknown>(op: string, payload: unknown = {}, options: CallOptions = {}): Promise<T> {
    const { signal, onProgress } = options;
    if (signal?.aborted) throw new RuntimeAbortedError(op);
    const live = await this.start();
    return await new Promise<T>((resolve, reject) => {
      // Python dying mid-call settles this call through the exit watcher (dispatch never would).
      const onDeath = (error: Error) =>
        reject(error instanceof RuntimeDiedError ? new RuntimeDiedError(op, error.exitCode_, error.signal) : error);
      live.failPending.add(onDeath);
      const onAbort = () => {
        // The only way to stop Python mid-op is to end its process; the next call starts afresh.
        this.kill(live);
        reject(new RuntimeAbortedError(op));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const progress = onProgress
        ? (line: string) => {
            const event = parseProgressLine(line);
            if (event) onProgress(event);
          }
        : null;
      live.module
        .dispatch$(op, JSON.stringify(payload ?? {}), progress, { $timeout: Infinity })
        .then((text) => resolve(unwrapEnvelope<T>(op, text)))
        .catch((error: unknown) => reject(error instanceof Error ? error : new Error(String(error))))
        .finally(() => {
          live.failPending.delete(onDeath);
          signal?.removeEventListener("abort", onAbort);
        });
    });
  }

  async close(): Promise<void> {
    const live = this.live;
    this.live = null;
    if (!live) return;
    try {
      const l = await live;
      l.failPending.clear();
      this.pythonia?.python.exit();
    } catch {
      /* it never started */
    }
  }

  /**
   * A fresh Python for pythonia after the last one died or was closed. `com.start()` alone drops
   * the handler through which Python calls JavaScript functions (our progress callbacks would
   * then wait forever): restore it. The bridge's reference-freeing timer stays stopped (python.exit()
   * stopped it): proxies of the dead process are still being finalised, and freeing their ids in the
   * new process would free its own objects (the module we call: "KeyError: 1"). We hold one proxy
   * per process, so nothing needs freeing.
   */
  private restartPythonia(pythonia: Pythonia): void {
    pythonia.com.start();
    const bridge = (globalThis as { __pythonBridge?: PythoniaBridge }).__pythonBridge;
    if (bridge) {
      pythonia.com.register("jsi", bridge.jsi.onMessage.bind(bridge.jsi));
      clearInterval(bridge.loop);
      bridge.freeable.length = 0;
    }
  }

  private kill(live: Live): void {
    if (this.live) this.live = null;
    try {
      live.proc.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }

  private start(): Promise<Live> {
    if (!this.live) {
      this.live = this.spawn();
      this.live.catch(() => {
        this.live = null;
      });
    }
    return this.live;
  }

  private async spawn(): Promise<Live> {
    const env = await ensureRuntime();
    process.env.PYTHON_BIN = env.python;
    Object.assign(process.env, runtimeEnvironment(pythonSourceDir));
    if (!this.pythonia) {
      // Loading pythonia spawns Python, so it is required here, after PYTHON_BIN is set.
      this.pythonia = createRequire(import.meta.url)("pythonia") as Pythonia;
    } else {
      if (this.pythonia.com.proc) this.pythonia.python.exit(); // a dead process, or one killed on abort
      this.restartPythonia(this.pythonia);
    }
    const proc = this.pythonia.com.proc;
    if (!proc) throw new RuntimeDiedError("start", null, null);
    const failPending = new Set<(error: Error) => void>();
    let exited = false;
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
      exited = true;
      const error = new RuntimeDiedError("start", code, sig);
      for (const fail of [...failPending]) fail(error);
      failPending.clear();
      if (this.pythonia?.com.proc === proc) this.pythonia.python.exit();
      this.live = null;
    };
    proc.once("exit", onExit);
    proc.on("error", () => onExit(null, null));
    const startup = new Promise<never>((_, reject) => failPending.add(reject));
    const module = (await Promise.race([this.pythonia.python("osrm_runtime.bridge"), startup])) as BridgeModule;
    const pid = (await Promise.race([module.pid(), startup])) as number;
    failPending.clear();
    if (exited) throw new RuntimeDiedError("start", proc.exitCode, proc.signalCode);
    return { module, proc, pid, failPending };
  }
}
