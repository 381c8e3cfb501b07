/**
 * `osrm merge`: merge task adapters (or fully fine-tuned models) with one of the registry's
 * methods (op merge), optionally searching lambda/density/drop rate on held-out training data and
 * evaluating the result (op evaluate's shape). The methods and their hyperparameter flags come
 * from src/config/schema/merge-methods.ts, which test/config-merge-methods.test.ts checks against
 * the Python registry (op merge_methods): nothing here lists a method by hand.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { MERGE_METHOD_SPECS as MERGE_METHODS, methodSpec, MergeMethodName } from "../config/schema/merge-methods.ts";
import { GlueTaskName } from "../config/glue.ts";
import { UsageError } from "../errors.ts";
import { merge, type MergeResult } from "../ops/merge.ts";
import { callOp, checkPayload, PayloadError, type FullPayloadOf } from "../ops/op.ts";
import type { CommandRegistrar } from "./context.ts";
import { collect, modelOptions, positiveInt, type ModelFlags } from "./flags.ts";
import { modelPayload, resolveTasks } from "./payload-pieces.ts";

export interface MergeFlags extends Partial<ModelFlags> {
  adapter?: string[];
  config?: string;
  method?: string;
  glueDir?: string;
  taskFile?: string[];
  search?: string[];
  holdout?: number;
  select?: "normalized" | "average";
  examples?: number;
  evaluate?: string | boolean;
  out?: string;
  [hyperparameter: string]: unknown;
}

/** Every hyperparameter name of every method, once: each becomes a --kebab-case flag. */
export const HYPERPARAMETERS = [...new Set(MERGE_METHODS.flatMap((m) => m.hyperparameters.map((h) => h.name)))];
const takes = (m: (typeof MERGE_METHODS)[number], name: string) => m.hyperparameters.some((h) => h.name === name);
const flagOf = (name: string) => `--${name.replaceAll("_", "-")}`;
const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function scalar(text: string): number | string | null {
  if (text === "null") return null;
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}

function readConfig(file: string): Record<string, unknown> {
  try {
    const raw = parseYaml(readFileSync(file, "utf8")) as unknown;
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error("expected a mapping (the merge op's payload)");
    return raw as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--config ${file}: ${(e as Error).message}`);
  }
}

/** The merge op's payload from flags (and a --config file they override), checked by its schema. Pure: tested directly. */
export function buildMergePayload(flags: MergeFlags): FullPayloadOf<typeof merge> {
  const base = flags.config ? readConfig(flags.config) : {};
  const payload: Record<string, unknown> = { ...base };
  if (flags.model) payload.model = modelPayload({ model: flags.model, family: flags.family, dtype: flags.dtype });
  if (!payload.model) throw new UsageError("no base model: give --model (or model in --config)");

  if (flags.adapter?.length) {
    const pairs = flags.adapter.map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1 || at === pair.length - 1) throw new UsageError(`--adapter '${pair}': expected task=path`);
      return { name: pair.slice(0, at), path: resolve(pair.slice(at + 1)) };
    });
    // A task spec when we can make one (GLUE name or --task-file): data-driven methods and
    // --evaluate read the task's data; otherwise the name alone is enough to merge.
    const files = resolveTasks({ taskFile: flags.taskFile }, false);
    payload.adapters = pairs.map(({ name, path }: { name: string; path: string }) => {
      const fromFile = files.find((t) => t.name === name);
      if (fromFile) return { task: fromFile, path };
      if (GlueTaskName.safeParse(name).success) return { task: resolveTasks({ tasks: [name], glueDir: flags.glueDir })[0], path };
      return { task: name, path };
    });
  }
  if (!Array.isArray(payload.adapters) || payload.adapters.length === 0) {
    throw new UsageError("no adapters: give --adapter task=path (repeatable) or adapters in --config");
  }

  const fromConfig = (typeof payload.method === "object" && payload.method) || (typeof payload.method === "string" ? { name: payload.method } : {});
  const method: Record<string, unknown> = { ...(fromConfig as Record<string, unknown>) };
  if (flags.method) method.name = flags.method;
  if (!method.name) throw new UsageError(`no method: give --method (${MERGE_METHODS.map((m) => m.name).join(", ")})`);
  const name = MergeMethodName.safeParse(method.name);
  if (!name.success) throw new UsageError(`--method '${String(method.name)}' is unknown; known: ${MERGE_METHODS.map((m) => m.name).join(", ")}`);
  const spec = methodSpec(name.data);
  for (const h of HYPERPARAMETERS) {
    const value = flags[camel(h)];
    if (value === undefined) continue;
    if (!takes(spec, h)) {
      throw new UsageError(`${flagOf(h)}: method '${spec.name}' has no hyperparameter ${h} (it takes: ${spec.hyperparameters.map((x) => x.name).join(", ")})`);
    }
    method[h] = scalar(String(value));
  }
  const checked = spec.setting.safeParse(method);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new UsageError(`method ${spec.name}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  payload.method = method;

  if (flags.search?.length) {
    const grid: Record<string, unknown[]> = {};
    for (const entry of flags.search) {
      const [key, values] = entry.split("=", 2);
      if (!key || !values) throw new UsageError(`--search '${entry}': expected name=v1,v2,...`);
      grid[key] = values.split(",").map((v) => scalar(v.trim()));
    }
    const holdout = flags.holdout === undefined ? { fraction: 0.1 } : flags.holdout < 1 ? { fraction: flags.holdout } : { count: flags.holdout };
    payload.search = { grid, holdout: { ...holdout, seed: 42 }, select: flags.select ?? "normalized" };
  }
  if (flags.examples !== undefined) payload.data = { ...(payload.data as object), examples: flags.examples };
  if (flags.evaluate) payload.evaluate = { split: typeof flags.evaluate === "string" ? flags.evaluate : "eval" };
  if (flags.out) payload.out = resolve(flags.out);
  if (!payload.out) throw new UsageError("no output folder: give --out (or out in --config)");
  try {
    return checkPayload(merge, payload);
  } catch (error) {
    if (error instanceof PayloadError) throw new UsageError(`${flags.config ? `--config ${flags.config}: ` : ""}${error.message}`);
    throw error;
  }
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "-" : (100 * x).toFixed(1));

export function formatMerge(result: MergeResult): string {
  const { name, ...hyperparameters } = result.method;
  const lines = [
    `${result.out}  (${name}; ${Object.entries(hyperparameters).map(([k, v]) => `${k} ${v}`).join(", ")}; ${result.tensors} tensors from ${result.tasks.length} ${result.kind === "lora" ? "adapters" : "models"}, ${result.seconds.toFixed(1)} s)`,
  ];
  if (result.search) lines.push(`search: best ${JSON.stringify(result.search.best)}; robustness curve ${result.search.curve.png}`);
  const e = result.evaluation;
  if (e) {
    lines.push(`${"task".padEnd(12)}${"merged".padStart(8)}${"own".padStart(8)}${"norm".padStart(8)}   (${e.split})`);
    for (const [task, s] of Object.entries(e.tasks)) {
      lines.push(`${task.padEnd(12)}${pct(s.score).padStart(8)}${pct(s.individual?.score).padStart(8)}${pct(s.normalized).padStart(8)}`);
    }
    lines.push(`${"average".padEnd(12)}${pct(e.average).padStart(8)}${"".padStart(8)}${pct(e.normalized).padStart(8)}`);
  }
  return lines.join("\n");
}

function methodHelp(): string {
  const lines = MERGE_METHODS.map(
    (m) =>
      `  ${m.name.padEnd(17)}${m.display_name}: ${m.summary}${m.needsData ? " [reads --examples training examples per task]" : ""}${m.works_on === "lora_factors" ? " [LoRA adapters only]" : ""}\n` +
      `${"".padEnd(19)}hyperparameters: ${m.hyperparameters.map((h) => `${h.name} (default ${h.default})`).join(", ")}\n${"".padEnd(19)}${m.reference.authors} ${m.reference.year}, ${m.reference.url}`,
  );
  return `\nMethods:\n${lines.join("\n")}\n`;
}

export const registerMerge: CommandRegistrar = (program, context) => {
  // --model is optional here (unlike modelOptions'): a --config file may name the model.
  const cmd: Command = modelOptions(program.command("merge"), false)
    .description("merge task adapters (or fully fine-tuned models) into one model; every task keeps its own head")
    .option("--adapter <task=path>", "a task and its adapter (PEFT folder) or fine-tuned model folder; repeatable", collect)
    .option("--config <file>", "the merge op's payload as YAML/JSON (model, adapters, method, search, data, evaluate, out); flags override it")
    .addOption(new Option("--method <name>", "the merging method").choices(MERGE_METHODS.map((m) => m.name)))
    .option("--glue-dir <dir>", "a local GLUE folder for GLUE task names (data-driven methods, --search, --evaluate)")
    .option("--task-file <file>", "a task spec (JSON or YAML) for a non-GLUE task named in --adapter; repeatable", collect)
    .option("--search <name=v1,v2>", "a search grid on held-out training data, e.g. lambda=0.1,0.3,0.5; repeatable", collect)
    .option("--holdout <fraction|count>", "held-out training examples per task for --search (< 1: a fraction)", Number)
    .addOption(new Option("--select <score>", "what --search maximises").choices(["normalized", "average"]))
    .option("--examples <n>", "training examples per task for Fisher / RegMean", positiveInt("--examples"))
    .option("--evaluate [split]", "evaluate the merge on each task's split (eval, eval_mismatched, train)")
    .option("--out <dir>", "the merged model folder to write");
  for (const h of HYPERPARAMETERS) {
    const users = MERGE_METHODS.filter((m) => takes(m, h)).map((m) => m.name);
    cmd.option(`${flagOf(h)} <value>`, `hyperparameter ${h} (${users.length === MERGE_METHODS.length ? "every method" : users.join(", ")})`, (v: string) => {
      if (v.trim() === "") throw new InvalidArgumentError(`${flagOf(h)} needs a value`);
      return v;
    });
  }
  cmd
    .addHelpText("after", methodHelp() + `
Example:
  osrm merge --model roberta-large --adapter sst2=runs/sst2 --adapter rte=runs/rte \\
    --method ties --density 0.2 --search lambda=0.5,1.0,1.5 --evaluate --glue-dir glue --out runs/merged`)
    .action(async (flags: MergeFlags) => {
      const ctx = context();
      const payload = buildMergePayload(flags);
      const result = await ctx.withRuntime("bridge", (rt) => callOp(rt, merge, payload, { onProgress: (e) => ctx.display.update(e), signal: ctx.signal }));
      ctx.output(result, () => formatMerge(result));
    });
};
