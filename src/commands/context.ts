/** What every command receives: output mode, the abort signal of Ctrl-C, and a runtime factory. */
import type { Command } from "commander";
import { BridgeRuntime } from "../runtime/bridge.ts";
import { ProcessRuntime, type ProcessRuntimeOptions } from "../runtime/process.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { createProgressDisplay, type DisplayMode, type ProgressDisplay } from "../ui/progress.ts";

export interface CommandContext {
  mode: DisplayMode;
  signal: AbortSignal;
  display: ProgressDisplay;
  /** Prints a result: as JSON under --json, else through the given human formatter. */
  output(value: unknown, human?: (value: unknown) => string): void;
  /** Runs `work` with a runtime that is closed afterwards, whatever happens. */
  withRuntime<T>(kind: "bridge" | "process", work: (runtime: Runtime) => Promise<T>, options?: ProcessRuntimeOptions): Promise<T>;
}

export function createContext(program: Command, signal: AbortSignal): CommandContext {
  const opts = program.opts<{ json?: boolean; quiet?: boolean }>();
  const mode: DisplayMode = opts.json ? "json" : opts.quiet ? "quiet" : "bars";
  const display = createProgressDisplay(mode);
  return {
    mode,
    signal,
    display,
    output(value, human) {
      if (mode === "json") process.stdout.write(JSON.stringify({ type: "result", value }) + "\n");
      else process.stdout.write((human ? human(value) : JSON.stringify(value, null, 2)) + "\n");
    },
    async withRuntime(kind, work, options) {
      const runtime = kind === "bridge" ? new BridgeRuntime() : new ProcessRuntime(options);
      try {
        return await work(runtime);
      } finally {
        display.stop();
        await runtime.close();
      }
    },
  };
}

export type CommandRegistrar = (program: Command, context: () => CommandContext) => void;
