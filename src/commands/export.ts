/**
 * `osrm export`: one task of a finished merge as a folder anyone loads without osrm (op `export`):
 * a Hugging Face model folder, or, for merges that are a fixed linear combination of LoRA updates,
 * one PEFT adapter.
 */
import { Option } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { MERGE_METHODS } from "../config/schema/merge-methods.ts";
import { UsageError } from "../errors.ts";
import { exportTask, type ExportFormat, type ExportResult } from "../ops/export.ts";
import { callOp } from "../ops/op.ts";
import type { CommandRegistrar } from "./context.ts";
import { number } from "./flags.ts";
import { modelPayload } from "./payload-pieces.ts";

interface ExportFlags {
  task: string;
  out: string;
  format: ExportFormat;
  lambda?: number;
  model?: string;
  force?: boolean;
}

/** A merge folder, or a merge job's folder (runs/x/jobs/merge-...), whose out/ is the merge. */
export function mergeFolder(path: string): string {
  const folder = resolve(path);
  if (existsSync(join(folder, "merge.json"))) return folder;
  if (existsSync(join(folder, "out", "merge.json"))) return join(folder, "out");
  throw new UsageError(`${folder} is not a finished merge (no merge.json in it or in its out/); give a merge job's folder or its out/`);
}

/**
 * Refuses --format peft before Python starts when the merge's method is not a fixed linear
 * combination of the task updates (the registry's linear_combination, src/ops/merge-methods.json).
 */
function checkPeftFormat(folder: string): void {
  const manifest = JSON.parse(readFileSync(join(folder, "merge.json"), "utf8")) as { method?: { name?: string } };
  const method = MERGE_METHODS.find((m) => m.name === manifest.method?.name);
  if (method && method.linear_combination === null) {
    throw new UsageError(
      `--format peft: method '${method.name}' is not a fixed linear combination of the task updates (${method.summary}), so its merged update ` +
        `is no concatenation of the adapters' LoRA factors; export it with --format hf (the dense merged model), or merge with ` +
        `one of ${MERGE_METHODS.filter((m) => m.linear_combination !== null).map((m) => m.name).join(", ")} for a LoRA export`,
    );
  }
}

function human(r: ExportResult): string {
  const lines = [`${r.task} of the ${r.method} merge (lambda ${r.lambda}) -> ${r.out}`, `  ${r.format}: ${r.files.join(", ")}`];
  if (r.format === "peft") lines.push(`  rank ${r.rank}; largest |B A - lambda * merged update| ${r.max_abs_diff?.toExponential(2)}`);
  lines.push(
    r.format === "hf"
      ? `  load: AutoModelForSequenceClassification.from_pretrained(${JSON.stringify(r.out)})`
      : `  load: PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(${JSON.stringify(r.base)}, num_labels=...), ${JSON.stringify(r.out)})  (README.md has the lines)`,
  );
  return lines.join("\n");
}

export const registerExport: CommandRegistrar = (program, context) => {
  program
    .command("export")
    .description("one task of a finished merge as a Hugging Face model folder, or (linear merges of LoRA adapters) one PEFT adapter")
    .argument("<merge>", "a merge job's folder (runs/<name>/jobs/merge-...) or a merged folder (merge.json)")
    .requiredOption("--task <name>", "the task whose head the model gets")
    .requiredOption("--out <dir>", "the folder to write (absent or empty, unless --force)")
    .addOption(new Option("--format <format>", "hf: config + safetensors + tokenizer; peft: one LoRA adapter (factors concatenated)").choices(["hf", "peft"]).default("hf"))
    .option("--lambda <x>", "scale of the merged update (default: the merge's)", number("--lambda"))
    .option("--model <path>", "the base model's folder or hub id, when it is no longer where the merge recorded it (checked by content)")
    .option("--force", "replace a non-empty --out")
    .addHelpText(
      "after",
      `
--format hf writes what AutoModelForSequenceClassification.from_pretrained loads: the base with the
merged update applied (EMR: this task's mask and rescaler) and the task's own head, its labels in
config.json; it predicts what osrm's evaluation of the merge scored. --format peft writes the
merged update as one PEFT LoRA adapter (rank = the sum of the adapters' ranks, scalings and
lambda folded in), exact for weight averaging, task arithmetic and the other merges whose
registry entry is a linear combination; others are refused. The folder is written beside --out
and renamed into place: a failed export leaves nothing behind.

Examples:
  osrm export runs/demo/jobs/merge-1a2b3c4d5e6f --task spam --out models/spam-merged
  osrm export runs/demo/jobs/merge-1a2b3c4d5e6f --task spam --format peft --out adapters/spam-merged`,
    )
    .action(async (merge: string, flags: ExportFlags) => {
      const ctx = context();
      const merged = mergeFolder(merge);
      if (flags.format === "peft") checkPeftFormat(merged);
      const payload = {
        merged,
        task: flags.task,
        out: resolve(flags.out),
        format: flags.format,
        lambda: flags.lambda ?? null,
        // A folder as an absolute path: the adapter and the card record where the base is.
        model: flags.model ? modelPayload({ model: existsSync(flags.model) ? resolve(flags.model) : flags.model }) : null,
        force: Boolean(flags.force),
      };
      const result = await ctx.withRuntime("bridge", (rt) => callOp(rt, exportTask, payload, { onProgress: (e) => ctx.display.update(e), signal: ctx.signal }));
      ctx.output(result, (v) => human(v as ExportResult));
    });
};
