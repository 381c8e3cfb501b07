/** `export`: one task of a merge as a folder anyone loads without osrm (a Hugging Face model, or one PEFT adapter). */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { defineOp } from "./op.ts";

export const ExportFormat = z.enum(["hf", "peft"]);
export type ExportFormat = z.infer<typeof ExportFormat>;

export const exportTask = defineOp({
  name: "export",
  summary: "one task of a merge as a Hugging Face model folder (hf) or, for linear merges of LoRA adapters, one PEFT adapter (peft)",
  payload: z.strictObject({
    merged: z.string().min(1).describe("a merged folder (format osrm-merge/1: a merge job's out)"),
    task: z.string().min(1).describe("the task whose head the exported model carries"),
    out: z.string().min(1).describe("the folder to write: absent or empty unless force; written in a temporary folder and renamed into place"),
    format: ExportFormat.default("hf").describe(
      "hf: config (with the task's labels), model.safetensors and tokenizer for AutoModelForSequenceClassification.from_pretrained; " +
        "peft: the merged update as one LoRA adapter (factors concatenated, rank = the sum of ranks), only for merges whose registry entry has a linear_combination",
    ),
    lambda: z.number().min(0).max(10).nullable().default(null).describe("overrides the merge's lambda"),
    model: BackboneObject.nullable()
      .default(null)
      .describe("the base model, when it is no longer where the merge recorded it (checked against the merge's content digest); null: the recorded one"),
    force: z.boolean().default(false).describe("replace a non-empty out"),
  }),
  result: z.strictObject({
    out: z.string(),
    format: ExportFormat,
    task: z.string(),
    lambda: z.number(),
    method: z.string(),
    base: z.string(),
    files: z.array(z.string()),
    rank: z.int().nullable().describe("peft: the adapter's rank (the sum of the merged adapters' ranks)"),
    max_abs_diff: z.number().nullable().describe("peft: the largest |B A - lambda * merged| over every tensor of the merge's stored dense update"),
  }),
});
export type ExportResult = z.infer<typeof exportTask.result>;
