/**
 * Fine-tuning settings: the shared `training` payload piece, with the paper's defaults
 * (ALGORITHMS.md §6). lr and seed are sweep axes. `per_task` overrides a knob per task, inline or
 * from a JSON file in the paper's shape ({"mrpc": 5, "qnli": 2, ...}), e.g. hparams/qkv-epochs.json.
 */
import { z } from "zod";
import { oneOrMany } from "./sweep.ts";

const PositiveInt = z.int().positive();
const Fraction = z.number().min(0).lt(1);

/** The knobs that may differ per task, each with the schema of its value. */
export const PER_TASK_KNOBS = {
  epochs: PositiveInt,
  lr: z.number().positive(),
  batch_size: PositiveInt,
  grad_accum: PositiveInt,
  warmup_ratio: Fraction,
  weight_decay: z.number().nonnegative(),
} as const;
export type PerTaskKnob = keyof typeof PER_TASK_KNOBS;

/** A per-task map inline, or the path of a JSON file holding one (relative to the config). */
function perTask<T extends z.ZodType>(value: T) {
  return z.union([z.string().endsWith(".json", { error: "a per-task file is a .json file" }), z.record(z.string(), value)]).optional();
}

export const PerTask = z.strictObject({
  epochs: perTask(PER_TASK_KNOBS.epochs),
  lr: perTask(PER_TASK_KNOBS.lr),
  batch_size: perTask(PER_TASK_KNOBS.batch_size),
  grad_accum: perTask(PER_TASK_KNOBS.grad_accum),
  warmup_ratio: perTask(PER_TASK_KNOBS.warmup_ratio),
  weight_decay: perTask(PER_TASK_KNOBS.weight_decay),
});

export const Training = z.strictObject({
  lr: oneOrMany(z.number().positive()).default(4e-4),
  epochs: PositiveInt.default(10),
  batch_size: PositiveInt.default(64),
  grad_accum: PositiveInt.default(1),
  warmup_ratio: Fraction.default(0.06),
  scheduler: z.enum(["linear", "constant"]).default("linear"),
  weight_decay: z.number().nonnegative().default(0),
  gradient_checkpointing: z.boolean().default(false),
  precision: z.enum(["auto", "fp32", "bf16"]).default("auto"),
  seed: oneOrMany(z.int().nonnegative()).default(42),
  group_by_length: z.boolean().default(true),
  eval_batch_size: PositiveInt.default(128),
  per_task: PerTask.prefault({}),
});
export type Training = z.infer<typeof Training>;

/** The `training` payload piece of one train job: every knob resolved to one value. */
export type TrainingSetting = Omit<Training, "lr" | "seed" | "per_task"> & { lr: number; seed: number };
