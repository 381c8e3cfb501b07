/** `merge` and `evaluate`: merging task adapters (or fully fine-tuned models), and scoring a merge. */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { MergeData } from "../config/schema/merge.ts";
import { MergeMethodSetting, MergeMethodsFile } from "../config/schema/merge-methods.ts";
import { Task } from "../config/schema/task.ts";
import { defineOp } from "./op.ts";

export const EvalSplit = z.enum(["eval", "eval_mismatched", "train"]);
const Seed = z.int().nonnegative();
const Scored = z.strictObject({ score: z.number(), metrics: z.record(z.string(), z.number()) }).meta({ id: "Scored" });

/** Training examples held out per task for a search: a fraction of the split, or a count. */
const Holdout = z.union([
  z.strictObject({ fraction: z.number().gt(0).lt(1), seed: Seed.default(42) }).meta({ id: "HoldoutFraction" }),
  z.strictObject({ count: z.int().positive(), seed: Seed.default(42) }).meta({ id: "HoldoutCount" }),
]);

export const MergeSearch = z
  .strictObject({
    grid: z.record(z.string(), z.array(z.union([z.number(), z.string(), z.null()])).min(1)).describe("hyperparameter -> values to try"),
    holdout: Holdout.describe("the held-out slice of each task's TRAINING split the grid is scored on"),
    select: z.enum(["normalized", "average"]).default("normalized").describe("what the search maximises"),
  })
  .meta({ id: "MergeSearch" });

export const EvaluationOptions = z
  .strictObject({
    split: EvalSplit.default("eval"),
    batch_size: z.int().positive().default(128),
    seed: Seed.default(42).describe("seed of the split's subsample when the task caps it"),
  })
  .meta({ id: "EvaluationOptions" });

const MergeAdapter = z
  .strictObject({
    task: z.union([Task, z.string().min(1)]).describe("a full task spec (needed to read data) or only its name"),
    path: z.string().min(1).describe("a PEFT LoRA folder or a fully fine-tuned model folder"),
  })
  .meta({ id: "MergeAdapter" });

/** A task and its individually fine-tuned adapter (or model folder). */
const TaskAdapter = z.strictObject({ task: Task, adapter: z.string().min(1) }).meta({ id: "TaskAdapter" });

const TaskScore = Scored.extend({ individual: Scored.optional(), normalized: z.number().nullable().optional() });

/** The merge scored at one lambda of a robustness grid. */
export const CurvePoint = z
  .strictObject({
    lambda: z.number(),
    average: z.number(),
    normalized: z.number().nullable(),
    tasks: z.record(z.string(), z.number()),
  })
  .meta({ id: "CurvePoint" });
export type CurvePoint = z.infer<typeof CurvePoint>;

export const EvaluateResult = z.strictObject({
  tasks: z.record(z.string(), TaskScore),
  average: z.number(),
  normalized: z.number().nullable(),
  individual_average: z.number().optional(),
  split: z.string(),
  lambda: z.number().nullable(),
  curve: z.array(CurvePoint).nullable().optional(),
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;

export const merge = defineOp({
  name: "merge",
  summary: "merge task adapters or fine-tuned models with one method (optionally searching and evaluating); heads stay per task",
  payload: z.strictObject({
    model: BackboneObject,
    adapters: z.array(MergeAdapter).min(1),
    method: MergeMethodSetting,
    out: z.string().min(1).describe("the merged folder (format osrm-merge/1)"),
    data: MergeData.prefault({}).describe("training examples that data-driven methods (Fisher, RegMean) read per task"),
    search: MergeSearch.nullable().default(null),
    evaluate: EvaluationOptions.nullable().default(null).describe("evaluate the merge on each task's split"),
  }),
  result: z.strictObject({
    out: z.string(),
    manifest: z.string(),
    method: z.record(z.string(), z.unknown()),
    lambda: z.number(),
    kind: z.enum(["lora", "full"]),
    tasks: z.array(z.string()),
    tensors: z.int(),
    files: z.strictObject({ delta: z.string(), heads: z.record(z.string(), z.string()), masks: z.record(z.string(), z.string()) }),
    rescalers: z.record(z.string(), z.number()).nullable(),
    search: z
      .strictObject({
        best: z.record(z.string(), z.unknown()),
        best_score: z.strictObject({ average: z.number(), normalized: z.number().nullable() }),
        holdout: z.strictObject({
          split: z.literal("train"),
          fraction: z.number().nullable(),
          count: z.int().nullable(),
          seed: z.int(),
          examples: z.record(z.string(), z.int()),
        }),
        individual: z.record(z.string(), z.number()),
        rows: z.array(z.record(z.string(), z.unknown())),
        curve: z.strictObject({ json: z.string(), csv: z.string(), png: z.string() }),
        select: z.string(),
      })
      .nullable(),
    evaluation: EvaluateResult.nullable(),
    seconds: z.number(),
  }),
});
export type MergeResult = z.infer<typeof merge.result>;

export const evaluate = defineOp({
  name: "evaluate",
  summary: "score a merge (or the individual models) on every task's split, each with its own head",
  payload: z.strictObject({
    model: BackboneObject,
    merged: z.string().min(1).nullable().describe("a merged folder; null scores the individual models only"),
    tasks: z.array(TaskAdapter).min(1),
    split: EvalSplit.default("eval"),
    batch_size: z.int().positive().default(128),
    seed: Seed.default(42),
    lambda: z.number().min(0).max(10).nullable().default(null).describe("overrides the merge's lambda"),
    lambdas: z
      .array(z.number().min(0).max(10))
      .min(1)
      .nullable()
      .default(null)
      .describe("also score the merge at each of these lambdas: its robustness curve on this split (reported, never used to choose)"),
    individual: z
      .record(z.string(), z.union([z.number(), Scored]))
      .nullable()
      .default(null)
      .describe("the individual models' scores (skips re-scoring them)"),
  }),
  result: EvaluateResult,
});

export const mergeMethods = defineOp({
  name: "merge_methods",
  summary: "the merge-method registry, as src/ops/merge-methods.json holds it",
  payload: z.strictObject({}),
  result: MergeMethodsFile.omit({ $comment: true }),
});
