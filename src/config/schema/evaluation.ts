/** How merged models are evaluated (every task on its own split, with its own head). */
import { z } from "zod";

export const Evaluation = z.strictObject({
  /** The paper reports GLUE validation scores; "train" is there for fit checks. */
  split: z.enum(["validation", "train"]).default("validation"),
});
export type Evaluation = z.infer<typeof Evaluation>;
