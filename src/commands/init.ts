/** `osrm init`: OSRM init adapters (A from the other tasks' statistics, B = 0), one per task. */
import { Option } from "commander";
import { join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { callOp } from "../ops/op.ts";
import { osrmInit, type InitResult } from "../ops/osrm-init.ts";
import { collectStatistics } from "./collect-statistics.ts";
import type { CommandRegistrar } from "./context.ts";
import { modelOptions, number, positiveInt, samplingOptions, taskOptions, type ModelFlags, type SamplingFlags, type TaskFlags } from "./flags.ts";
import { checkBlocks, given, modelPayload, resolveTasks } from "./payload-pieces.ts";

interface InitFlags extends ModelFlags, TaskFlags, SamplingFlags {
  out: string;
  statsDir?: string;
  target?: string[];
  rank?: number;
  alpha?: number;
  dropout?: number;
  variant?: "covariance" | "means";
  weighting?: "tokens" | "equal";
}

export const registerInit: CommandRegistrar = (program, context) => {
  samplingOptions(taskOptions(modelOptions(program.command("init"))))
    .description("write OSRM init adapters (PEFT folders, A orthogonal to the other tasks' inputs, B = 0), one per task")
    .requiredOption("--out <dir>", "folder for the adapters: <out>/<task>")
    .option("--stats-dir <dir>", "statistics cache (default: <out>/stats)")
    .option("--target <tasks>", "initialise only these tasks (default: every task)", (v) => v.split(",").filter(Boolean))
    .option("--rank <r>", "LoRA rank r (default 8)", positiveInt("--rank"))
    .option("--alpha <alpha>", "LoRA alpha, scaling alpha / r (default 16)", number("--alpha"))
    .option("--dropout <p>", "LoRA dropout (default 0)", number("--dropout"))
    .addOption(new Option("--variant <variant>", "covariance: eigenvectors of S_{-t} (the paper; default); means: null space of the other tasks' mean vectors (the authors' code)").choices(["covariance", "means"]))
    .addOption(new Option("--weighting <weighting>", "pool the other tasks by tokens (default), or weigh each task equally").choices(["tokens", "equal"]))
    .addHelpText(
      "after",
      `
Statistics of every task are collected once (cached) and shared by every task's init. Errors name
the field: a rank above the input dimension (or, for means, above d_in - (T-1)), unknown blocks.

Example:
  osrm init --model roberta-large --glue-dir data/glue --tasks cola,sst2,mrpc,rte --rank 8 --alpha 16 --out runs/init`,
    )
    .action(async (flags: InitFlags) => {
      const ctx = context();
      const tasks = resolveTasks(flags);
      const targets = flags.target ?? tasks.map((t) => t.name);
      for (const t of targets) if (!tasks.some((task) => task.name === t)) throw new UsageError(`--target: '${t}' is not one of the tasks (${tasks.map((x) => x.name).join(", ")})`);
      const model = modelPayload(flags);
      const results = await ctx.withRuntime("bridge", async (rt) => {
        const stats = await collectStatistics(rt, ctx, model, tasks, flags, flags.statsDir ?? join(flags.out, "stats"));
        const out: Record<string, InitResult> = {};
        for (const target of targets) {
          out[target] = await callOp(
            rt,
            osrmInit,
            {
              task: target,
              stats: Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, v.file])),
              lora: { ...given({ rank: flags.rank, alpha: flags.alpha, dropout: flags.dropout }), blocks: checkBlocks(flags.blocks) },
              osrm: given({ variant: flags.variant, samples: flags.k, pooling: flags.pooling, weighting: flags.weighting, seed: flags.seed }),
              out: resolve(flags.out, target),
            },
            { onProgress: (e) => ctx.display.update(e), signal: ctx.signal },
          );
        }
        return out;
      });
      ctx.output({ adapters: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.adapter])), results }, () =>
        Object.entries(results)
          .map(([t, r]) => `${t.padEnd(12)} ${r.adapter}  (${r.modules.length} modules, ${r.variant}, r ${r.rank}, residual ${r.residual.mean.toExponential(2)})`)
          .join("\n"),
      );
    });
};
