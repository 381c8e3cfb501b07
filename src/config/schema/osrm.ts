/** OSRM initialisation settings: the shared `osrm` payload piece (docs/algorithms.md, sections 2-3). */
import { z } from "zod";

export const InitKind = z.enum(["gaussian", "osrm"]);
export type InitKind = z.infer<typeof InitKind>;

/** The paper compares the standard Gaussian init with OSRM in every table, so both by default. */
export const Init = z.union([InitKind, z.array(InitKind).min(1)]).default(["gaussian", "osrm"]);

export const Osrm = z
  .strictObject({
    /**
     * covariance: the paper's eigenvectors of S_{-t}; means: the null space of the other tasks'
     * mean vectors (the released code's idea, with this project's sampling and padding); release:
     * the released code's procedure step by step (docs/algorithms.md, section 3).
     */
    variant: z
      .enum(["covariance", "means", "release"])
      .default("covariance")
      .describe("covariance: the paper's eigenvectors of S_{-t}; means: the null space of the other tasks' mean vectors; release: the released code's procedure exactly"),
    samples: z.int().positive().default(100).describe("training examples per task whose layer inputs make the statistics"),
    pooling: z.enum(["masked", "all-positions"]).default("masked").describe("mean vectors over real tokens, or over all padded positions"),
    weighting: z.enum(["tokens", "equal"]).default("tokens").describe("pool the other tasks by tokens, or weigh each task equally"),
    seed: z.int().nonnegative().default(42).describe("seed of the statistics' sample"),
  })
  .meta({ id: "OsrmSetting" });
export type Osrm = z.infer<typeof Osrm>;

/**
 * The config's `osrm` section: as the op's, and `seed: training` draws each sweep point's
 * statistics with that point's training seed, so repeating an experiment over seeds repeats the
 * OSRM sample too.
 */
export const OsrmConfig = Osrm.extend({
  seed: z.union([Osrm.shape.seed.unwrap(), z.literal("training")]).default(Osrm.shape.seed.def.defaultValue as number),
});
export type OsrmConfig = z.infer<typeof OsrmConfig>;
