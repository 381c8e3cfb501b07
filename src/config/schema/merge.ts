/** Which merges run on the task adapters, and the held-out data their searches use. */
import { z } from "zod";
import { MergeMethodEntry, type MergeMethodName } from "./merge-methods.ts";

/**
 * The classic comparison methods of the paper that need no search: a config that names no
 * methods gets these.
 */
export const DEFAULT_METHODS: MergeMethodName[] = ["weight_averaging", "task_arithmetic", "ties", "dare_ties", "emr", "fisher", "regmean"];

/** Training examples that data-driven methods (Fisher, RegMean) read per task: the merge op's `data`. */
export const MergeData = z
  .strictObject({
    examples: z.int().positive().default(64),
    seed: z.int().nonnegative().default(42),
    batch_size: z.int().positive().default(16),
  })
  .meta({ id: "MergeData" });

export const Merge = z.strictObject({
  methods: z.array(MergeMethodEntry).min(1).prefault(DEFAULT_METHODS),
  /** What a method's `search` scores its grid on: training examples held out per task (never the reported split). */
  holdout: z
    .strictObject({ fraction: z.number().gt(0).lt(1).default(0.1), seed: z.int().nonnegative().default(42) })
    .prefault({}),
  /** What a search maximises: the normalised score (merged / individual) or the plain average. */
  select: z.enum(["normalized", "average"]).default("normalized"),
  data: MergeData.prefault({}),
});
export type Merge = z.infer<typeof Merge>;
