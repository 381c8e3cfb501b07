/**
 * `osrm train`: LoRA fine-tuning of one task (op `train`), Gaussian or OSRM init, resumable.
 * A thin layer: flags -> the op's payload (validated by the config's zod schemas, so the CLI and
 * YAML configs share every default) -> runtime call -> the final metrics.
 */
import { Option } from "commander";
import { resolve } from "node:path";
import { GLUE_TASKS, GlueTaskName } from "../config/glue.ts";
import { Task } from "../config/schema/task.ts";
import { UsageError } from "../errors.ts";
import { checkPayload, callOp, PayloadError, type FullPayloadOf } from "../ops/op.ts";
import { train, type TrainResult } from "../ops/train.ts";
import { commandLine, toolVersion } from "../plan/provenance.ts";
import { torchrunLauncher } from "../runtime/process.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { CommandContext, CommandRegistrar } from "./context.ts";
import { list, modelOptions, nonNegativeInt, number, positiveInt, type ModelFlags } from "./flags.ts";
import { checkBlocks, firstIssue, given, modelPayload } from "./payload-pieces.ts";

export interface TrainFlags extends ModelFlags {
  task?: string;
  glueDir?: string;
  train?: string;
  eval?: string;
  name?: string;
  text?: string[];
  label?: string;
  labels?: string[];
  regression?: boolean;
  metric?: string;
  format?: string;
  maxLength?: number;
  maxTrain?: number;
  maxEval?: number;
  invalidLabels?: "error" | "drop";
  blocks: string[];
  rank?: number;
  alpha?: number;
  dropout?: number;
  freeze?: "none" | "A" | "B";
  init: "gaussian" | "osrm";
  initAdapter?: string;
  epochs?: number;
  keepEpoch?: "best" | "last";
  lr?: number;
  batchSize?: number;
  gradAccum?: number;
  warmupRatio?: number;
  scheduler?: string;
  weightDecay?: number;
  gradientCheckpointing?: boolean;
  precision?: string;
  seed?: number;
  groupByLength: boolean;
  evalBatchSize?: number;
  out: string;
  process?: boolean;
  gpus?: number;
}

function taskPayload(flags: TrainFlags) {
  const limits = given({ max_length: flags.maxLength, max_train: flags.maxTrain, max_eval: flags.maxEval, invalid_labels: flags.invalidLabels });
  let raw: unknown;
  if (flags.task) {
    if (flags.train || flags.eval) throw new UsageError("give either --task (GLUE) or --train/--eval files, not both");
    if (!GlueTaskName.safeParse(flags.task).success) {
      throw new UsageError(`--task: '${flags.task}' is not a GLUE task (${GLUE_TASKS.join(", ")}); use --train/--eval for other data`);
    }
    raw = { name: flags.task, source: { kind: "glue", task: flags.task, dir: flags.glueDir ? resolve(flags.glueDir) : null }, ...limits };
  } else if (flags.train || flags.eval) {
    if (!flags.train || !flags.eval) throw new UsageError("--train and --eval go together (the eval split picks the best epoch)");
    if (!flags.text || !flags.label) throw new UsageError("--train/--eval need --text <column[,column]> and --label <column>");
    raw = {
      name: flags.name ?? "task",
      source: {
        kind: "files",
        train: resolve(flags.train),
        eval: resolve(flags.eval),
        text: flags.text,
        label: flags.label,
        ...given({ format: flags.format, labels: flags.labels, regression: flags.regression, metric: flags.metric }),
      },
      ...limits,
    };
  } else {
    throw new UsageError("no task: give --task <glue task> (with --glue-dir for a local folder) or --train/--eval files");
  }
  const parsed = Task.safeParse(raw);
  if (!parsed.success) throw firstIssue("task", parsed.error);
  return parsed.data;
}

/** The `train` payload from command-line flags; unset knobs take the schema's (the paper's) defaults. */
export function trainPayload(flags: TrainFlags): FullPayloadOf<typeof train> {
  if (flags.init === "osrm" && !flags.initAdapter) throw new UsageError("--init osrm needs --init-adapter <dir> (a folder written by `osrm init`)");
  if (flags.init === "gaussian" && flags.initAdapter) throw new UsageError("--init-adapter is only used with --init osrm");
  try {
    return checkPayload(train, {
      model: modelPayload(flags),
      task: taskPayload(flags),
      lora: { ...given({ rank: flags.rank, alpha: flags.alpha, dropout: flags.dropout, freeze: flags.freeze }), blocks: checkBlocks(flags.blocks) },
      training: given({
        lr: flags.lr,
        epochs: flags.epochs,
        keep_epoch: flags.keepEpoch,
        batch_size: flags.batchSize,
        grad_accum: flags.gradAccum,
        warmup_ratio: flags.warmupRatio,
        scheduler: flags.scheduler,
        weight_decay: flags.weightDecay,
        gradient_checkpointing: flags.gradientCheckpointing,
        precision: flags.precision,
        seed: flags.seed,
        group_by_length: flags.groupByLength,
        eval_batch_size: flags.evalBatchSize,
      }),
      init: flags.init === "osrm" ? { kind: "osrm", adapter: resolve(flags.initAdapter!) } : { kind: "gaussian" },
      out: resolve(flags.out),
      provenance: { command: commandLine(), config: null, tool: toolVersion() },
    });
  } catch (error) {
    // "train: training.warmup_ratio: ..." reads as the flag's knob
    if (error instanceof PayloadError) throw new UsageError(error.message.replace(/^train: /, ""));
    throw error;
  }
}

export async function runTrain(runtime: Runtime, payload: FullPayloadOf<typeof train>, ctx?: Pick<CommandContext, "display" | "signal">): Promise<TrainResult> {
  return callOp(runtime, train, payload, ctx && { onProgress: (e) => ctx.display.update(e), signal: ctx.signal });
}

function human(r: TrainResult): string {
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join("  ");
  const lines = r.history.map((h) => `epoch ${String(h.epoch).padStart(3)}  loss ${h.loss.toFixed(4)}  ${fmt(h.metrics)}  ${h.samples_per_s.toFixed(0)} samples/s${h.epoch === r.best_epoch ? "  <- best" : ""}`);
  if (r.reused) lines.unshift("(already trained: reporting the finished run in this folder)");
  if (r.resumed_from_epoch !== null) lines.unshift(`(resumed after epoch ${r.resumed_from_epoch})`);
  const { train: droppedTrain, eval: droppedEval } = r.dropped_rows;
  if (droppedTrain + droppedEval > 0) lines.push(`dropped     ${droppedTrain} train and ${droppedEval} eval row(s) with an empty or NaN label`);
  lines.push(
    `best        epoch ${r.best_epoch}: score ${r.score.toFixed(4)}  (${fmt(r.metrics)})`,
    `baseline    majority class: ${r.majority_baseline.score.toFixed(4)}`,
    `adapter     ${r.adapter}`,
    `metrics     ${r.metrics_file}`,
  );
  return lines.join("\n");
}

export const registerTrain: CommandRegistrar = (program, context) => {
  modelOptions(program.command("train"))
    .description("fine-tune one task with LoRA (Gaussian or OSRM init); the best epoch (or, with --keep-epoch last, the last) is saved as a PEFT adapter")
    .requiredOption("--out <dir>", "output folder: the PEFT adapter (+ head), osrm_task.json, metrics.json; rerunning resumes")
    .option("--task <name>", `a GLUE task (${GLUE_TASKS.join(", ")})`)
    .option("--glue-dir <dir>", "a local GLUE folder in the original TSV layout (default: the hub, through `datasets`)")
    .option("--train <file>", "training data: CSV, TSV or JSONL (instead of --task)")
    .option("--eval <file>", "evaluation data, same columns as --train")
    .option("--name <name>", "the task's name for --train/--eval data", "task")
    .option("--text <columns>", "text column, or two comma-separated for a pair", list)
    .option("--label <column>", "label column")
    .option("--labels <values>", "the label set in order, comma-separated (default: sorted distinct training values)", list)
    .option("--regression", "the label is a number (one output, MSE loss)")
    .addOption(new Option("--metric <metric>", "how epochs are scored (default: accuracy; pearson_spearman for regression)").choices(["accuracy", "accuracy_f1", "matthews", "pearson_spearman", "r2"]))
    .addOption(new Option("--format <format>", "file format (default: from the extension)").choices(["csv", "tsv", "jsonl"]))
    .option("--max-length <n>", "tokens per example at most (default 128)", positiveInt("--max-length"))
    .option("--max-train <n>", "training examples at most, a seeded sample (default 105000)", positiveInt("--max-train"))
    .option("--max-eval <n>", "evaluation examples at most (default 15000)", positiveInt("--max-eval"))
    .addOption(new Option("--invalid-labels <what>", "rows with an empty or NaN label: error (refuse the file) or drop (leave them out, counted)").choices(["error", "drop"]))
    .option("--blocks <blocks>", "adapted blocks, comma-separated: q, k, v, o, mlp", list, ["q", "v"])
    .option("--rank <r>", "LoRA rank r (default 8)", positiveInt("--rank"))
    .option("--alpha <alpha>", "LoRA alpha, scaling alpha / r (default 16)", number("--alpha"))
    .option("--dropout <p>", "LoRA dropout (default 0)", number("--dropout"))
    .addOption(new Option("--freeze <factor>", "keep one factor fixed: A (the OSRM subspace) or B (default none)").choices(["none", "A", "B"]))
    .addOption(new Option("--init <kind>", "LoRA init: gaussian (PEFT's default) or osrm (from --init-adapter)").choices(["gaussian", "osrm"]).default("gaussian"))
    .option("--init-adapter <dir>", "the OSRM init adapter for --init osrm (written by `osrm init`)")
    .option("--epochs <n>", "epochs (default 10)", positiveInt("--epochs"))
    .addOption(new Option("--keep-epoch <which>", "the epoch saved: best on the eval split (default) or last (nothing chosen on eval)").choices(["best", "last"]))
    .option("--lr <lr>", "AdamW learning rate (default 4e-4)", number("--lr"))
    .option("--batch-size <n>", "examples per micro-batch and process (default 64)", positiveInt("--batch-size"))
    .option("--grad-accum <n>", "micro-batches per optimizer step (default 1)", positiveInt("--grad-accum"))
    .option("--warmup-ratio <f>", "fraction of steps with linear warmup (default 0.06)", number("--warmup-ratio"))
    .addOption(new Option("--scheduler <kind>", "after warmup: linear decay to 0, or constant (default linear)").choices(["linear", "constant"]))
    .option("--weight-decay <w>", "AdamW weight decay on matrices (default 0)", number("--weight-decay"))
    .option("--gradient-checkpointing", "recompute activations in backward: less memory, slower")
    .addOption(new Option("--precision <p>", "auto: bf16 autocast on a GPU, fp32 on CPU (default auto)").choices(["auto", "fp32", "bf16"]))
    .option("--seed <n>", "seed of init, data order and dropout (default 42)", nonNegativeInt("--seed"))
    .option("--no-group-by-length", "plain shuffled batches instead of length-grouped ones")
    .option("--eval-batch-size <n>", "examples per evaluation batch (default 128)", positiveInt("--eval-batch-size"))
    .option("--process", "run in a worker process instead of the in-process bridge (isolation for long runs)")
    .option("--gpus <n>", "data-parallel over n GPUs through torchrun (implies --process)", positiveInt("--gpus"))
    .addHelpText(
      "after",
      `
Each epoch is evaluated on the eval split; the best epoch by the task's metric (CoLA: Matthews,
STS-B: mean of Pearson and Spearman, others: accuracy) is kept. A run that is interrupted resumes
after its last finished epoch when run again with the same flags and --out. Bad data (a missing
split or column, labels outside the label set, empty texts, --max-length above the model's) is
reported before training starts.

Examples:
  osrm train --model roberta-large --glue-dir data/glue --task rte --epochs 10 --out runs/rte
  osrm train --model models/tiny --init osrm --init-adapter runs/init/sst2 --task sst2 --out runs/sst2-osrm
  osrm train --model models/tiny --train reviews.csv --eval reviews-dev.csv --text review --label stars --out runs/reviews`,
    )
    .action(async (flags: TrainFlags) => {
      const ctx = context();
      const payload = trainPayload(flags);
      const kind = flags.process || flags.gpus ? "process" : "bridge";
      const options = flags.gpus && flags.gpus > 1 ? { launcher: torchrunLauncher(flags.gpus) } : undefined;
      const result = await ctx.withRuntime(kind, (rt) => runTrain(rt, payload, ctx), options);
      ctx.output(result, (v) => human(v as TrainResult));
    });
};
