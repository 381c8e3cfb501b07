/** `osrm stats`: each task's layer-input statistics on the pretrained model (op collect_stats), cached under --out. */
import type { StatsResult } from "../ops/collect-stats.ts";
import { collectStatistics } from "./collect-statistics.ts";
import type { CommandRegistrar } from "./context.ts";
import { modelOptions, samplingOptions, taskOptions, type ModelFlags, type SamplingFlags, type TaskFlags } from "./flags.ts";
import { modelPayload, resolveTasks } from "./payload-pieces.ts";

function table(results: Record<string, StatsResult>): string {
  const lines = ["task          samples   tokens  inputs  cached  file"];
  for (const [name, r] of Object.entries(results)) {
    lines.push(`${name.padEnd(12)}  ${String(r.samples).padStart(7)}  ${String(r.tokens).padStart(7)}  ${String(r.inputs).padStart(6)}  ${(r.cached ? "yes" : "no").padEnd(6)}  ${r.file}`);
    for (const w of r.warnings) lines.push(`  warning: ${w}`);
  }
  return lines.join("\n");
}

export const registerStats: CommandRegistrar = (program, context) => {
  samplingOptions(taskOptions(modelOptions(program.command("stats"))))
    .description("collect each task's layer-input statistics (second moments, mean vectors) on the pretrained model, cached")
    .requiredOption("--out <dir>", "the statistics cache folder (files are named by everything that determines them)")
    .addHelpText(
      "after",
      `
For k sampled training examples per task, forward hooks on the adapted modules sum h h^T over the
real tokens of their inputs (q, k and v of a layer share one input, computed once), in batches with
dynamic padding. Files are reused by every later stats/init/diagnose with the same settings.

Example:
  osrm stats --model roberta-large --glue-dir data/glue --tasks cola,sst2,mrpc,rte --k 100 --out runs/stats`,
    )
    .action(async (flags: ModelFlags & TaskFlags & SamplingFlags & { out: string }) => {
      const ctx = context();
      const tasks = resolveTasks(flags);
      const results = await ctx.withRuntime("bridge", (rt) => collectStatistics(rt, ctx, modelPayload(flags), tasks, flags, flags.out));
      ctx.output({ stats: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.file])), results }, () => table(results));
    });
};
