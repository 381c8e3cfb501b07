/**
 * The paper's reported numbers, as data in a config, so a table can show them beside ours.
 * Copy them from the paper; leave a row or a cell out when the paper does not report it —
 * a missing value is shown as missing, never filled in.
 */
import { z } from "zod";
import { MergeMethodName } from "./merge-methods.ts";
import { InitKind } from "./osrm.ts";

export const PaperResult = z.strictObject({
  /** A merge method, or "individual" for the individually fine-tuned models. */
  method: z.union([z.literal("individual"), MergeMethodName]),
  init: InitKind,
  /** Percentages as printed: task name -> score, plus optional "average" and "normalized". */
  scores: z.record(z.string(), z.number()),
  /** Where in the paper the row is (e.g. "Table 1"). */
  source: z.string().optional(),
});
export type PaperResult = z.infer<typeof PaperResult>;
