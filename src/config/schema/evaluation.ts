/** How merged models are evaluated (every task on its own split, with its own head). */
import { z } from "zod";

export const Evaluation = z.strictObject({
  /**
   * eval: the task's evaluation split (GLUE validation, as the paper reports; MNLI matched);
   * eval_mismatched: MNLI's mismatched validation; train: for fit checks.
   */
  split: z.enum(["eval", "eval_mismatched", "train"]).default("eval"),
  /**
   * A lambda grid every merge is also scored at on that split: its robustness curve (the mean and
   * the worst normalised score over the grid, and the score at lambda 1, go into the report).
   * Reported only: lambdas are chosen by a method's `search` on held-out training data.
   */
  lambdas: z.array(z.number().gt(0).max(10)).default([]),
});
export type Evaluation = z.infer<typeof Evaluation>;
