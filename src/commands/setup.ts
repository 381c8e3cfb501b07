import { ensureRuntime } from "../runtime/setup.ts";
import type { CommandRegistrar } from "./context.ts";

export const registerSetup: CommandRegistrar = (program, context) => {
  program
    .command("setup")
    .description("create the Python runtime's environment (done automatically on first use)")
    .option("--force", "rebuild the environment even if it is ready")
    .addHelpText(
      "after",
      `
The environment is a virtual environment for python/requirements.txt in the per-user cache
($OSRM_CACHE_DIR, else $XDG_CACHE_HOME/osrm, else ~/.cache/osrm), keyed by the requirements'
hash: clones share it and a changed requirement builds a new one. An install that was interrupted
is detected and rebuilt. Set OSRM_PYTHON=/path/to/python to use an existing interpreter (a CUDA
conda env, say) instead; it is checked for torch, transformers, peft and safetensors.`,
    )
    .action(async (flags: { force?: boolean }) => {
      const ctx = context();
      const started = Date.now();
      try {
        const env = await ensureRuntime({ force: flags.force, onProgress: (e) => ctx.display.update(e), signal: ctx.signal });
        ctx.display.stop();
        ctx.output({ ...env, seconds: (Date.now() - started) / 1000 }, () =>
          env.source === "venv" ? `runtime ready: ${env.venv}` : `using OSRM_PYTHON=${env.python}`,
        );
      } finally {
        ctx.display.stop();
      }
    });
};
