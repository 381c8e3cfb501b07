/** `osrm transform`: post-hoc OSRM of a finished adapter or fully fine-tuned model (op transform). */
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { callOp } from "../ops/op.ts";
import { transform } from "../ops/transform.ts";
import type { CommandRegistrar } from "./context.ts";
import { modelOptions, number, type ModelFlags } from "./flags.ts";
import { modelPayload } from "./payload-pieces.ts";

interface TransformFlags extends ModelFlags {
  adapter?: string;
  fullModel?: string;
  init: string;
  out: string;
  alpha?: number;
}

export const registerTransform: CommandRegistrar = (program, context) => {
  modelOptions(program.command("transform"))
    .description("project a finished task model onto its OSRM subspace: a PEFT adapter with B' = dW A^T / s and the task's head")
    .option("--adapter <dir>", "the task's finished LoRA adapter (PEFT folder, head in modules_to_save)")
    .option("--full-model <dir>", "or the task's fully fine-tuned model folder (dW = W_t - W0)")
    .requiredOption("--init <dir>", "the task's OSRM init adapter (from `osrm init`): its A")
    .requiredOption("--out <dir>", "folder for the new adapter")
    .option("--alpha <alpha>", "LoRA alpha of the new adapter (default: the init's)", number("--alpha"))
    .addHelpText(
      "after",
      `
The new adapter's update is dW A^T A: the part of the task's update that acts on the other tasks'
input subspace is removed. It loads with PeftModel.from_pretrained.

Example:
  osrm transform --model roberta-large --adapter runs/lora/mrpc --init runs/init/mrpc --out runs/posthoc/mrpc`,
    )
    .action(async (flags: TransformFlags) => {
      const ctx = context();
      if (Boolean(flags.adapter) === Boolean(flags.fullModel)) throw new UsageError("give exactly one of --adapter or --full-model");
      const result = await ctx.withRuntime("bridge", (rt) =>
        callOp(
          rt,
          transform,
          {
            model: modelPayload(flags),
            adapter: flags.adapter ? resolve(flags.adapter) : null,
            full_model: flags.fullModel ? resolve(flags.fullModel) : null,
            init: resolve(flags.init),
            alpha: flags.alpha ?? null,
            out: resolve(flags.out),
          },
          { onProgress: (e) => ctx.display.update(e), signal: ctx.signal },
        ),
      );
      ctx.output(result, () =>
        [
          `${result.adapter}  (${result.modules.length} modules, r ${result.rank}, alpha ${result.alpha}, head: ${result.head.length ? "carried" : "none"})`,
          `own update kept: ${result.kept_energy.mean === null ? "-" : (100 * result.kept_energy.mean).toFixed(1) + "% of its energy (mean over modules)"}`,
          ...result.warnings.map((w) => `warning: ${w}`),
        ].join("\n"),
      );
    });
};
