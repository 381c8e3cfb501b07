/** The LoRA adapter: the shared `lora` payload piece. rank and blocks are sweep axes. */
import { z } from "zod";
import { oneOrMany } from "./sweep.ts";

/** Family-neutral module names, mapped to each architecture's modules in osrm_runtime/models.py. */
export const Block = z.enum(["q", "k", "v", "o", "mlp"]);
export type Block = z.infer<typeof Block>;

const BlockSet = z
  .array(Block)
  .min(1)
  .refine((blocks) => new Set(blocks).size === blocks.length, { error: "a block is listed twice" });

export const Lora = z.strictObject({
  rank: oneOrMany(z.int().positive()).default(8),
  alpha: z.number().positive().default(16),
  dropout: z.number().min(0).lt(1).default(0),
  /** [q, v] is one setting; a list of lists ([[q, v], [q, k, v]]) is a sweep. */
  blocks: z.union([BlockSet, z.array(BlockSet).min(1)]).default(["q", "v"]),
  /** Train both factors, or keep A (the OSRM subspace) or B frozen. */
  freeze: z.enum(["none", "A", "B"]).default("none"),
});
export type Lora = z.infer<typeof Lora>;

/** One point of the lora sweep: what the `lora` payload piece holds. */
export type LoraSetting = Omit<Lora, "rank" | "blocks"> & { rank: number; blocks: Block[] };
