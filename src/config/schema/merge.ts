/** Which merges run on the task adapters, and the held-out data their searches use. */
import { z } from "zod";
import { MergeMethodEntry, MergeMethodName } from "./merge-methods.ts";

/**
 * The classic comparison methods of ALGORITHMS.md §5 that need no search: a config that names
 * no methods gets these.
 */
export const DEFAULT_METHODS: MergeMethodName[] = ["weight_averaging", "task_arithmetic", "ties", "dare_ties", "emr", "fisher", "regmean"];

export const Merge = z.strictObject({
  methods: z.array(MergeMethodEntry).min(1).prefault(DEFAULT_METHODS),
  /** Fraction of each task's validation split held out for `search` (never part of the reported score). */
  heldout: z.number().gt(0).lt(1).default(0.1),
  /** Which validation examples are held out. */
  seed: z.int().nonnegative().default(42),
});
export type Merge = z.infer<typeof Merge>;
