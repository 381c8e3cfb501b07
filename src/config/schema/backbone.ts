/** The pretrained model every task fine-tunes from: the shared `model` payload piece (docs/ops.md). */
import { z } from "zod";

export const ModelFamily = z.enum(["roberta", "bert", "t5", "llama", "mistral", "gpt2"]);

export const BackboneObject = z
  .strictObject({
    /** A hub id or a local folder (a path starting with ./, ../, / or ~ is a folder, relative to the config). */
    name_or_path: z.string().min(1).describe("a hub id or a local model folder"),
    revision: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("a hub model's revision (branch, tag or commit); part of the jobs' identity. null: the default branch"),
    family: ModelFamily.nullable().default(null).describe("null: detected from the model's config.model_type"),
    dtype: z.enum(["float32", "bfloat16", "auto"]).default("auto").describe("weights dtype; auto: bf16 on a GPU that has it, else float32"),
  })
  .meta({ id: "ModelSpec" });

/** `backbone: roberta-large` is short for `backbone: {name_or_path: roberta-large}`. */
export const Backbone = z.union([
  z.string().min(1).transform((name_or_path) => BackboneObject.parse({ name_or_path })),
  BackboneObject,
]);
export type Backbone = z.infer<typeof BackboneObject>;
