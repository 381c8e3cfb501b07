/** `osrm diagnose`: the T x T interference matrix of adapters on the tasks' inputs (op diagnose). */
import { join, resolve } from "node:path";
import { diagnose, type DiagnoseResult } from "../ops/diagnose.ts";
import { callOp } from "../ops/op.ts";
import { collectStatistics } from "./collect-statistics.ts";
import type { CommandRegistrar } from "./context.ts";
import { modelOptions, samplingOptions, taskOptions, taskPathPairs, type ModelFlags, type SamplingFlags, type TaskFlags } from "./flags.ts";
import { modelPayload, resolveTasks } from "./payload-pieces.ts";

interface DiagnoseFlags extends ModelFlags, TaskFlags, SamplingFlags {
  adapter: [string, string][];
  stats?: [string, string][];
  statsDir?: string;
  out: string;
  title?: string;
}

function human(r: DiagnoseResult): string {
  const width = Math.max(8, ...r.inputs.map((t) => t.length));
  const lines = [`${"adapter".padEnd(12)}${r.inputs.map((t) => t.padStart(width + 2)).join("")}`];
  r.matrix.forEach((row, i) => lines.push(`${r.tasks[i]!.padEnd(12)}${row.map((v) => v.toFixed(4).padStart(width + 2)).join("")}`));
  lines.push(`diagonal mean ${r.diagonal_mean?.toFixed(4) ?? "-"}, off-diagonal mean ${r.off_diagonal_mean?.toFixed(4) ?? "-"}`);
  lines.push(`heat map ${r.image}`, `table    ${r.table}`);
  return lines.join("\n");
}

export const registerDiagnose: CommandRegistrar = (program, context) => {
  samplingOptions(taskOptions(modelOptions(program.command("diagnose"))))
    .description("measure interference: how much each adapter shifts each task's layer outputs, as a matrix, tables and a heat map")
    .requiredOption("--adapter <task=dir>", "a task's LoRA adapter (PEFT folder); repeatable", taskPathPairs("--adapter") as never)
    .option("--stats <task=file>", "a task's statistics file (from `osrm stats`); repeatable; else collected for --tasks/--task-file", taskPathPairs("--stats") as never)
    .option("--stats-dir <dir>", "statistics cache when collecting (default: <out>/stats)")
    .requiredOption("--out <dir>", "folder for interference.{json,csv,md,png}")
    .option("--title <title>", "heat map title")
    .addHelpText(
      "after",
      `
shift[i][j] = mean over modules of ||dW_i H_j^T||_F / ||W0 H_j^T||_F, computed from the cached
second moments (no features kept). Off-diagonal entries are the interference OSRM shrinks; run it
before and after OSRM to compare.

Example:
  osrm diagnose --model roberta-large --glue-dir data/glue --tasks sst2,mrpc,rte \\
    --adapter sst2=runs/lora/sst2 --adapter mrpc=runs/lora/mrpc --adapter rte=runs/lora/rte --out runs/diagnose`,
    )
    .action(async (flags: DiagnoseFlags) => {
      const ctx = context();
      const adapters = flags.adapter.map(([task, path]) => ({ task, path: resolve(path) }));
      const given = flags.stats ?? [];
      const tasks = resolveTasks(flags, given.length === 0);
      const model = modelPayload(flags);
      const result = await ctx.withRuntime("bridge", async (rt) => {
        const stats: Record<string, string> = Object.fromEntries(given.map(([t, f]) => [t, resolve(f)]));
        if (tasks.length) {
          const collected = await collectStatistics(rt, ctx, model, tasks, flags, flags.statsDir ?? join(flags.out, "stats"));
          for (const [t, r] of Object.entries(collected)) stats[t] = r.file;
        }
        return callOp(rt, diagnose, { model, adapters, stats, out: resolve(flags.out), title: flags.title ?? null }, { onProgress: (e) => ctx.display.update(e), signal: ctx.signal });
      });
      ctx.output(result, () => human(result));
    });
};
