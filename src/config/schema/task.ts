/**
 * A task: where its data comes from and how much of it is used. The shared `task` payload piece
 * (docs/ops.md). A plain GLUE name ("sst2") is shorthand for the GLUE source of that task, read
 * from the top-level `glue_dir` (or the hub when it is null).
 */
import { z } from "zod";
import { GlueTaskName } from "../glue.ts";

export const TaskName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "a task name is letters, digits, '_', '.' or '-' (it names folders)" });

export const GlueSource = z.strictObject({
  kind: z.literal("glue"),
  task: GlueTaskName,
  /** A local GLUE folder in the original TSV layout; null = the top-level glue_dir, else the hub. */
  dir: z.string().nullable().default(null),
});

export const FilesSource = z.strictObject({
  kind: z.literal("files"),
  train: z.string().min(1),
  eval: z.string().min(1),
  /** null: from the file extension. */
  format: z.enum(["csv", "tsv", "jsonl"]).nullable().default(null),
  text: z.array(z.string().min(1)).min(1).max(2, { error: "text is one column or a pair of columns" }),
  label: z.string().min(1),
  /** The classification label set in order; null = the sorted distinct training values. */
  labels: z.array(z.union([z.string(), z.number()])).min(2).nullable().default(null),
  regression: z.boolean().default(false),
  /** One of the runtime's metrics (python/osrm_runtime/metrics.py); null = accuracy, or pearson_spearman for regression. */
  metric: z.enum(["accuracy", "accuracy_f1", "matthews", "pearson_spearman", "r2"]).nullable().default(null),
});

/**
 * The embedded demo suite (python/osrm_runtime/demo/tasks.py): real labelled tasks built from the
 * toolkit's npm data packages into the cache on first use, each from a different package, no two
 * sharing an input text (sotu_year and cmudict_syllables are regressions). Names as the Python
 * builder has them (python/tests/test_demo_contract.py checks that the two lists agree).
 */
export const DEMO_TASKS = [
  "spam",
  "sotu_year",
  "wordnet_pos",
  "name_gender",
  "afinn_sentiment",
  "cmudict_syllables",
] as const;
export const DemoSource = z.strictObject({
  kind: z.literal("demo"),
  task: z.enum(DEMO_TASKS),
  /** The seed of the suite's sampling (which examples land in train and eval). */
  seed: z.int().nonnegative().default(42),
});

export const TaskSource = z.discriminatedUnion("kind", [GlueSource.meta({ id: "GlueSource" }), FilesSource.meta({ id: "FilesSource" }), DemoSource.meta({ id: "DemoSource" })]);

export const Task = z.strictObject({
  name: TaskName,
  source: TaskSource,
  /** Training examples used at most (the paper caps at 105,000); null = all. */
  max_train: z.int().positive().nullable().default(105000),
  /** Evaluation examples used at most (the paper caps at 15,000); null = all. */
  max_eval: z.int().positive().nullable().default(15000),
  max_length: z.int().positive().default(128),
  /**
   * Rows whose classification (or regression) label is missing — empty, NaN, NA, null — in the
   * task's files: "error" refuses the file and names the lines; "drop" leaves those rows out and
   * reports how many (the train op's result and metrics.json, and a log line). Never a class.
   */
  invalid_labels: z
    .enum(["error", "drop"])
    .default("error")
    .describe("rows with an empty or NaN label: refuse the file (error) or leave them out, counted (drop)"),
}).meta({ id: "TaskSpec" });
export type Task = z.infer<typeof Task>;

export const TaskEntry = z.union([GlueTaskName, Task]);
export type TaskEntry = z.infer<typeof TaskEntry>;
