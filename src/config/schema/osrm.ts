/** OSRM initialisation settings: the shared `osrm` payload piece (ALGORITHMS.md §1-2). */
import { z } from "zod";

export const InitKind = z.enum(["gaussian", "osrm"]);
export type InitKind = z.infer<typeof InitKind>;

/** The paper compares the standard Gaussian init with OSRM in every table, so both by default. */
export const Init = z.union([InitKind, z.array(InitKind).min(1)]).default(["gaussian", "osrm"]);

export const Osrm = z.strictObject({
  /** covariance: the paper's eigenvectors of S_{-t}; means: the authors' released code (§2). */
  variant: z.enum(["covariance", "means"]).default("covariance"),
  /** Training samples per task whose layer inputs make the statistics. */
  samples: z.int().positive().default(100),
  pooling: z.enum(["masked", "all-positions"]).default("masked"),
  weighting: z.enum(["tokens", "equal"]).default("tokens"),
  seed: z.int().nonnegative().default(42),
});
export type Osrm = z.infer<typeof Osrm>;
