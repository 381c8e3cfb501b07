import { execa } from "execa";
import { pythonSourceDir } from "../runtime/paths.ts";
import { runtimeEnvironment } from "../runtime/runtime.ts";
import { ensureRuntime } from "../runtime/setup.ts";
import type { CommandRegistrar } from "./context.ts";

export const registerPython: CommandRegistrar = (program, context) => {
  program
    .command("python")
    .description("run the runtime's Python (setting it up first) with osrm_runtime importable")
    .argument("[args...]", "arguments for python, after --, e.g. osrm python -- -m pytest python/tests")
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const ctx = context();
      const env = await ensureRuntime({ onProgress: (e) => ctx.display.update(e), signal: ctx.signal });
      ctx.display.stop();
      const r = await execa(env.python, args, {
        stdio: "inherit",
        env: runtimeEnvironment(pythonSourceDir),
        reject: false,
        cancelSignal: ctx.signal,
      });
      process.exitCode = r.exitCode ?? 1;
    });
};
