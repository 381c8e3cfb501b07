/** `osrm diagnose`: the T x T interference matrix of adapters on the tasks' inputs (op diagnose). */
import { join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { CommandRegistrar } from "./context.ts";
import { collectStats, modelOptions, modelPayload, resolveTasks, samplingOptions, taskOptions, type ModelFlags, type SamplingFlags, type TaskFlags } from "./stats.ts";

interface DiagnoseFlags extends ModelFlags, TaskFlags, SamplingFlags {
  adapter: string[];
  stats?: string[];
  statsDir?: string;
  out: string;
  title?: string;
}

interface DiagnoseResult {
  matrix: number[][];
  tasks: string[];
  inputs: string[];
  image: string;
  table: string;
  csv: string;
  json: string;
  modules: number;
  diagonal_mean: number | null;
  off_diagonal_mean: number | null;
}

const pair = (flag: string) => (value: string, previous: [string, string][] = []) => {
  const at = value.indexOf("=");
  if (at < 1) throw new UsageError(`${flag} expects TASK=PATH, got '${value}'`);
  return [...previous, [value.slice(0, at), value.slice(at + 1)] as [string, string]];
};

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
    .requiredOption("--adapter <task=dir>", "a task's LoRA adapter (PEFT folder); repeatable", pair("--adapter") as never)
    .option("--stats <task=file>", "a task's statistics file (from `osrm stats`); repeatable; else collected for --tasks/--task-file", pair("--stats") as never)
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
      const adapters = (flags.adapter as unknown as [string, string][]).map(([task, path]) => ({ task, path: resolve(path) }));
      const given = (flags.stats as unknown as [string, string][] | undefined) ?? [];
      const tasks = resolveTasks(flags, given.length === 0);
      const model = modelPayload(flags);
      const result = await ctx.withRuntime("bridge", async (rt) => {
        const stats: Record<string, string> = Object.fromEntries(given.map(([t, f]) => [t, resolve(f)]));
        if (tasks.length) {
          const collected = await collectStats(rt, ctx, model, tasks, flags, flags.statsDir ?? join(flags.out, "stats"));
          for (const [t, r] of Object.entries(collected)) stats[t] = r.file;
        }
        return rt.call<DiagnoseResult>(
          "diagnose",
          { model, adapters, stats, out: resolve(flags.out), title: flags.title ?? null },
          { onProgress: (e) => ctx.display.update(e), signal: ctx.signal },
        );
      });
      ctx.output(result, () => human(result));
    });
};
