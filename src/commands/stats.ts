/**
 * `osrm stats`: each task's layer-input statistics on the pretrained model (op collect_stats),
 * cached under --out. Also the flag set and helpers that init and diagnose share with it: they
 * need the same model, tasks and statistics, spelt the same way.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { GLUE_TASKS, GlueTaskName } from "../config/glue.ts";
import { Block } from "../config/schema/lora.ts";
import { Task } from "../config/schema/task.ts";
import { UsageError } from "../errors.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { CommandContext, CommandRegistrar } from "./context.ts";
import { collect } from "./repeatable.ts";

export interface ModelFlags {
  model: string;
  family?: string;
  dtype: string;
}
export interface TaskFlags {
  glueDir?: string;
  tasks?: string[];
  taskFile?: string[];
  maxLength?: number;
}
export interface SamplingFlags {
  blocks: string[];
  k: number;
  seed: number;
  pooling: "masked" | "all-positions";
  batchSize: number;
}

export const positiveInt = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
  return n;
};
const integer = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer`);
  return n;
};
const list = (value: string) => value.split(",").map((s) => s.trim()).filter(Boolean);

export function modelOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--model <path>", "the pretrained base model: a local folder or a hub id")
    .addOption(new Option("--family <family>", "model family (default: from its config)").choices(["roberta", "bert", "t5", "llama", "mistral", "gpt2"]))
    .addOption(new Option("--dtype <dtype>", "weights dtype for the forward passes").choices(["float32", "bfloat16", "auto"]).default("float32"));
}

export function taskOptions(cmd: Command): Command {
  return cmd
    .option("--glue-dir <dir>", "a local GLUE folder in the original TSV layout (default: the hub)")
    .option("--tasks <names>", `GLUE tasks, comma-separated (${GLUE_TASKS.join(", ")})`, list)
    .option("--task-file <file>", "a task in the config's `task` shape (JSON or YAML: name, source, max_length); repeatable", collect)
    .option("--max-length <n>", "tokens per example at most", positiveInt("--max-length"));
}

export function samplingOptions(cmd: Command): Command {
  return cmd
    .option("--blocks <blocks>", "adapted blocks, comma-separated: q, k, v, o, mlp", list, ["q", "v"])
    .option("--k <n>", "training examples sampled per task (osrm.samples)", positiveInt("--k"), 100)
    .option("--seed <n>", "sampling seed (osrm.seed)", integer("--seed"), 42)
    .addOption(new Option("--pooling <pooling>", "mean vectors for the means variant: over real tokens, or over all 128 padded positions as the authors' code").choices(["masked", "all-positions"]).default("masked"))
    .option("--batch-size <n>", "examples per forward pass (dynamic padding)", positiveInt("--batch-size"), 50);
}

export function modelPayload(flags: ModelFlags) {
  return { name_or_path: flags.model, family: flags.family ?? null, dtype: flags.dtype };
}

/** The tasks named by flags, each validated by the config's Task schema (errors name the field). */
export function resolveTasks(flags: TaskFlags, required = true): Task[] {
  const tasks: Task[] = [];
  for (const name of flags.tasks ?? []) {
    const glue = GlueTaskName.safeParse(name);
    if (!glue.success) throw new UsageError(`--tasks: '${name}' is not a GLUE task (${GLUE_TASKS.join(", ")}); use --task-file for other tasks`);
    tasks.push(Task.parse({ name, source: { kind: "glue", task: name, dir: flags.glueDir ? resolve(flags.glueDir) : null } }));
  }
  for (const file of flags.taskFile ?? []) {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(file, "utf8"));
    } catch (e) {
      throw new UsageError(`--task-file ${file}: ${(e as Error).message}`);
    }
    const parsed = Task.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new UsageError(`--task-file ${file}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
    }
    tasks.push(parsed.data);
  }
  if (flags.maxLength) for (const t of tasks) t.max_length = flags.maxLength;
  const names = tasks.map((t) => t.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`task '${twice}' is given twice`);
  if (required && tasks.length === 0) throw new UsageError("no tasks: give --tasks (GLUE names, with --glue-dir for a local folder) or --task-file");
  return tasks;
}

export function checkBlocks(blocks: string[]): string[] {
  for (const b of blocks) {
    if (!Block.safeParse(b).success) throw new UsageError(`--blocks: '${b}' is not one of ${Block.options.join(", ")}`);
  }
  return blocks;
}

export interface StatsResult {
  file: string;
  samples: number;
  tokens: number;
  modules: string[];
  inputs: number;
  pooling: string;
  cached: boolean;
  warnings: string[];
}

/** collect_stats for every task (cached ones return at once): task name -> result. */
export async function collectStats(
  runtime: Runtime,
  ctx: CommandContext,
  model: ReturnType<typeof modelPayload>,
  tasks: Task[],
  sampling: SamplingFlags,
  cacheDir: string,
): Promise<Record<string, StatsResult>> {
  const out: Record<string, StatsResult> = {};
  for (const task of tasks) {
    out[task.name] = await runtime.call<StatsResult>(
      "collect_stats",
      {
        model,
        task,
        blocks: checkBlocks(sampling.blocks),
        osrm: { samples: sampling.k, seed: sampling.seed, pooling: sampling.pooling },
        max_length: task.max_length,
        batch_size: sampling.batchSize,
        cache_dir: resolve(cacheDir),
      },
      { onProgress: (e) => ctx.display.update(e), signal: ctx.signal },
    );
  }
  return out;
}

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
      const results = await ctx.withRuntime("bridge", (rt) => collectStats(rt, ctx, modelPayload(flags), tasks, flags, flags.out));
      ctx.output({ stats: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.file])), results }, () => table(results));
    });
};
