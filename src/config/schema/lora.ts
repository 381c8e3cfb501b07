/** The LoRA adapter: the shared `lora` payload piece, and its config form (rank and blocks are sweep axes). */
import { z } from "zod";
import { sweepable } from "./sweep.ts";

/** Family-neutral module names, mapped to each architecture's modules in osrm_runtime/models.py. */
export const Block = z.enum(["q", "k", "v", "o", "mlp"]);
export type Block = z.infer<typeof Block>;

const BlockSet = z
  .array(Block)
  .min(1)
  .refine((blocks) => new Set(blocks).size === blocks.length, { error: "a block is listed twice" });

/** One LoRA setting: what the init and train ops receive. The paper's defaults. */
export const LoraSetting = z
  .strictObject({
    rank: z.int().positive().default(8).describe("LoRA rank r"),
    alpha: z.number().positive().default(16).describe("LoRA alpha; the update is scaled by alpha / r"),
    dropout: z.number().min(0).lt(1).default(0).describe("dropout on the LoRA input"),
    blocks: BlockSet.default(["q", "v"]).describe("adapted blocks: q, k, v, o, mlp"),
    /** Train both factors, or keep A (the OSRM subspace) or B frozen. */
    freeze: z.enum(["none", "A", "B"]).default("none").describe("keep one factor fixed: A (the OSRM subspace) or B"),
  })
  .meta({ id: "LoraSetting" });
export type LoraSetting = z.infer<typeof LoraSetting>;

/** In a config, `rank: [4, 8]` and `blocks: [[q, v], [q, k, v]]` are sweeps. */
export const Lora = sweepable(LoraSetting, ["rank", "blocks"]);
export type Lora = z.infer<typeof Lora>;
