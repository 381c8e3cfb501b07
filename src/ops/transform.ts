/** `transform`: post-hoc OSRM of a finished adapter or fully fine-tuned model: B' = dW A^T / s. */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { defineOp } from "./op.ts";

export const transform = defineOp({
  name: "transform",
  summary: "project a finished task model onto its OSRM subspace: a PEFT adapter with B' = dW A^T / s and its head",
  payload: z.strictObject({
    model: BackboneObject,
    adapter: z.string().min(1).nullable().default(null).describe("a finished PEFT LoRA folder (or give full_model)"),
    full_model: z.string().min(1).nullable().default(null).describe("a fully fine-tuned model folder (or give adapter)"),
    init: z.string().min(1).describe("the task's osrm_init folder: its A"),
    alpha: z.number().positive().nullable().default(null).describe("LoRA alpha of the new adapter; null: the init's"),
    out: z.string().min(1),
  }),
  result: z.strictObject({
    adapter: z.string(),
    modules: z.array(z.string()),
    rank: z.int(),
    alpha: z.number(),
    head: z.array(z.string()),
    kept_energy: z.strictObject({ mean: z.number().nullable(), min: z.number().nullable() }),
    warnings: z.array(z.string()),
  }),
});
export type TransformResult = z.infer<typeof transform.result>;
