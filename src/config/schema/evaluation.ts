/** How merged models are evaluated (every task on its own split, with its own head). */
import { z } from "zod";

export const Evaluation = z.strictObject({
  /**
   * eval: the task's evaluation split (GLUE validation, as the paper reports; MNLI matched);
   * eval_mismatched: MNLI's mismatched validation; train: for fit checks.
   */
  split: z.enum(["eval", "eval_mismatched", "train"]).default("eval"),
});
export type Evaluation = z.infer<typeof Evaluation>;
