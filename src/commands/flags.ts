/**
 * Command-line flags that several commands share: the option sets for the base model, the tasks
 * and the statistics' sampling, and the parsers of flag values (numbers, lists, TASK=PATH pairs).
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { GLUE_TASKS } from "../config/glue.ts";
import { ModelFamily } from "../config/schema/backbone.ts";
import { UsageError } from "../errors.ts";

/** For an option that may be given several times (--set a --set b). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const list = (value: string) => value.split(",").map((s) => s.trim()).filter(Boolean);

export const positiveInt = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
  return n;
};

export const nonNegativeInt = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer`);
  return n;
};

export const number = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number`);
  return n;
};

/** A repeatable `--flag task=path`. */
export const taskPathPairs = (flag: string) => (value: string, previous: [string, string][] = []) => {
  const at = value.indexOf("=");
  if (at < 1 || at === value.length - 1) throw new UsageError(`${flag} expects TASK=PATH, got '${value}'`);
  return [...previous, [value.slice(0, at), value.slice(at + 1)] as [string, string]];
};

export interface ModelFlags {
  model: string;
  family?: string;
  dtype?: string;
}
export interface TaskFlags {
  glueDir?: string;
  tasks?: string[];
  taskFile?: string[];
  maxLength?: number;
}
export interface SamplingFlags {
  blocks: string[];
  k?: number;
  seed?: number;
  pooling?: "masked" | "all-positions";
  batchSize?: number;
}

/** --model, --family, --dtype (defaults: the schema's). `required` false when a --config may name the model. */
export function modelOptions(cmd: Command, required = true): Command {
  const model = "the pretrained base model: a local folder or a hub id";
  return (required ? cmd.requiredOption("--model <path>", model) : cmd.option("--model <path>", model))
    .addOption(new Option("--family <family>", "model family (default: from its config)").choices(ModelFamily.options))
    .addOption(new Option("--dtype <dtype>", "weights dtype (default auto: bf16 on a GPU that has it, else float32)").choices(["float32", "bfloat16", "auto"]));
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
    .option("--k <n>", "training examples sampled per task (osrm.samples; default 100)", positiveInt("--k"))
    .option("--seed <n>", "sampling seed (osrm.seed; default 42)", nonNegativeInt("--seed"))
    .addOption(new Option("--pooling <pooling>", "mean vectors for the means variant: over real tokens (masked, the default), or over all padded positions as the authors' code").choices(["masked", "all-positions"]))
    .option("--batch-size <n>", "examples per forward pass (dynamic padding; default 50)", positiveInt("--batch-size"));
}
