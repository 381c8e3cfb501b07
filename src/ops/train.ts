/** `train`: one task's LoRA fine-tuning (Gaussian or OSRM init); the best epoch saved as a PEFT adapter. */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { LoraSetting } from "../config/schema/lora.ts";
import { Task } from "../config/schema/task.ts";
import { TrainingSetting } from "../config/schema/training.ts";
import { defineOp } from "./op.ts";

export const TrainInit = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("gaussian") }).meta({ id: "GaussianInit" }),
    z.strictObject({ kind: z.literal("osrm"), adapter: z.string().min(1).describe("an osrm_init folder") }).meta({ id: "OsrmInitFrom" }),
  ])
  .default({ kind: "gaussian" });

export const TrainProvenance = z
  .strictObject({
    command: z.string().nullable().default(null).describe("the command line that asked for the run"),
    config: z.string().nullable().default(null).describe("the experiment config file that planned it"),
    tool: z.string().nullable().default(null).describe("the toolkit and its version"),
  })
  .meta({ id: "TrainProvenance" });

const Scored = z.strictObject({ score: z.number(), metrics: z.record(z.string(), z.number()) });

export const train = defineOp({
  name: "train",
  summary: "fine-tune one task with LoRA (Gaussian or OSRM init); the best epoch (or, with --keep-epoch last, the last) is saved as a PEFT adapter",
  payload: z.strictObject({
    model: BackboneObject,
    task: Task,
    lora: LoraSetting.prefault({}),
    training: TrainingSetting.prefault({}),
    init: TrainInit,
    out: z.string().min(1).describe("the adapter folder; a rerun with the same payload resumes or returns the finished run"),
    provenance: TrainProvenance.nullable()
      .default(null)
      .describe("what asked for the run, for the adapter's model card; not part of the run's identity (a resumed run may come from another command)"),
  }),
  result: z.strictObject({
    adapter: z.string(),
    metrics_file: z.string(),
    best_epoch: z.int(),
    score: z.number(),
    metrics: z.record(z.string(), z.number()),
    majority_baseline: Scored.extend({ prediction: z.union([z.string(), z.number()]) }),
    history: z.array(
      z.strictObject({
        epoch: z.int(),
        step: z.int(),
        loss: z.number(),
        score: z.number(),
        metrics: z.record(z.string(), z.number()),
        samples_per_s: z.number(),
        train_seconds: z.number(),
      }),
    ),
    resumed_from_epoch: z.int().nullable(),
    reused: z.boolean(),
    dropped_rows: z
      .strictObject({ train: z.int().nonnegative(), eval: z.int().nonnegative() })
      .describe("rows left out of each split for an empty or NaN label (task.invalid_labels: drop)"),
  }),
});
export type TrainResult = z.infer<typeof train.result>;
