/**
 * Fine-tuning settings: the shared `training` payload piece with the paper's defaults
 * (docs/algorithms.md, the GLUE setting), and its config form: lr and seed are sweep axes, and
 * `per_task` overrides a knob per task, inline or from a JSON file in the paper's shape
 * ({"mrpc": 5, "qnli": 2, ...}), e.g. hparams/qkv-epochs.json.
 */
import { z } from "zod";
import { sweepable } from "./sweep.ts";

const PositiveInt = z.int().positive();
const Fraction = z.number().min(0).lt(1);

/** "500", 500, "500 steps" or "30 min": how often training writes a resumable checkpoint mid-epoch. */
export const CHECKPOINT_INTERVAL = /^\s*(\d+)\s*(steps?)?\s*$|^\s*(\d+(?:\.\d+)?)\s*(min|minutes?)\s*$/;
const CheckpointInterval = z.union([
  PositiveInt,
  z.string().regex(CHECKPOINT_INTERVAL, { error: 'an interval is a number of steps ("500" or "500 steps") or of minutes ("30 min")' }),
]);

/**
 * Knobs of how a training job runs, not of what it computes: they are left out of the job's hash
 * (src/plan/planner.ts) and of the run's fingerprint in Python, so changing them neither re-runs
 * a finished training nor refuses to resume an interrupted one.
 */
export const RUN_ONLY_TRAINING_KNOBS = ["devices", "checkpoint_every"] as const;

/** One training setting: what the train op receives. */
export const TrainingSetting = z
  .strictObject({
    lr: z.number().positive().default(4e-4).describe("AdamW learning rate"),
    epochs: PositiveInt.default(10).describe("epochs"),
    keep_epoch: z
      .enum(["best", "last"])
      .default("best")
      .describe("the epoch saved: the best on the eval split (the paper's setting), or the last (nothing chosen on the eval split)"),
    batch_size: PositiveInt.default(64).describe(
      "examples per micro-batch, over all devices (with devices N each process runs batch_size / N); an optimizer step sees batch_size x grad_accum",
    ),
    grad_accum: PositiveInt.default(1).describe("micro-batches per optimizer step"),
    warmup_ratio: Fraction.default(0.06).describe("fraction of the steps with linear warmup"),
    scheduler: z.enum(["linear", "constant"]).default("linear").describe("after warmup: linear decay to 0, or constant"),
    weight_decay: z.number().nonnegative().default(0).describe("AdamW weight decay on matrices"),
    gradient_checkpointing: z.boolean().default(false).describe("recompute activations in backward: less memory, slower"),
    precision: z.enum(["auto", "fp32", "bf16"]).default("auto").describe("auto: bf16 autocast on a GPU that has it, fp32 otherwise"),
    seed: z.int().nonnegative().default(42).describe("seed of the head and LoRA init, data order and dropout"),
    group_by_length: z.boolean().default(true).describe("length-grouped batches (less padding)"),
    eval_batch_size: PositiveInt.default(128).describe("examples per evaluation batch"),
    devices: PositiveInt.default(1).describe(
      "processes that train this one job together under torchrun (DDP): GPUs on a GPU machine, CPU processes (gloo) otherwise; batch_size must be a multiple of it",
    ),
    checkpoint_every: CheckpointInterval.nullable()
      .default(null)
      .describe('a resumable checkpoint every N optimizer steps (a number, or "N steps") or every X minutes ("X min"), besides the one at each epoch end; null: at epoch ends only'),
  })
  .meta({ id: "TrainingSetting" });
export type TrainingSetting = z.infer<typeof TrainingSetting>;

/** The knobs that may differ per task, each with the schema of its value. */
export const PER_TASK_KNOBS = {
  epochs: TrainingSetting.shape.epochs.unwrap(),
  lr: TrainingSetting.shape.lr.unwrap(),
  batch_size: TrainingSetting.shape.batch_size.unwrap(),
  grad_accum: TrainingSetting.shape.grad_accum.unwrap(),
  warmup_ratio: TrainingSetting.shape.warmup_ratio.unwrap(),
  weight_decay: TrainingSetting.shape.weight_decay.unwrap(),
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

export const Training = sweepable(TrainingSetting, ["lr", "seed"]).extend({ per_task: PerTask.prefault({}) });
export type Training = z.infer<typeof Training>;
