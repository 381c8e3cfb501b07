/**
 * The merging methods a config may name, each describing its own hyperparameters (ALGORITHMS.md §5).
 * The Python side (osrm_runtime/merge/) implements them under the same names; add a method here
 * and there together. Every hyperparameter is a sweep axis (a list expands into one merge per
 * value) and may instead be searched on held-out validation data (`search: {lambda: [...]}`).
 * Defaults are the common ones of §5; where §5 gives none, the value is the toolkit's choice and
 * says so.
 */
import { z } from "zod";
import { oneOrMany } from "./sweep.ts";

const Lambda = z.number().positive({ error: "lambda must be > 0" });
const Density = z.number().gt(0, { error: "density must be in (0, 1]" }).max(1, { error: "density must be in (0, 1]" });
const DropRate = z.number().min(0, { error: "drop_rate must be in [0, 1)" }).lt(1, { error: "drop_rate must be in [0, 1)" });
const Seed = z.int().nonnegative();
const Samples = z.int().positive();

interface Hyperparameter<T extends z.ZodType> {
  value: T;
  fallback: z.output<T>;
}
const hp = <T extends z.ZodType>(value: T, fallback: z.output<T>): Hyperparameter<T> => ({ value, fallback });

type Hyperparameters = Record<string, Hyperparameter<z.ZodType>>;

function mergeMethod<const N extends string, H extends Hyperparameters>(name: N, description: string, hyperparameters: H) {
  type Fields = { [K in keyof H]: z.ZodDefault<ReturnType<typeof oneOrMany<H[K]["value"]>>> };
  type Grids = { [K in keyof H]: z.ZodOptional<z.ZodArray<H[K]["value"]>> };
  const fields = {} as Record<string, z.ZodType>;
  const grids = {} as Record<string, z.ZodType>;
  for (const [key, { value, fallback }] of Object.entries(hyperparameters)) {
    fields[key] = oneOrMany(value).default(fallback as never);
    grids[key] = z.array(value).min(2, { error: "a search grid needs at least two values" }).optional();
  }
  const schema = z.strictObject({
    name: z.literal(name),
    ...(fields as Fields),
    /** Hyperparameters chosen by the merge op on held-out validation data instead of fixed. */
    search: z.strictObject(grids as Grids).optional(),
  });
  return { name, description, hyperparameters: Object.keys(hyperparameters) as (keyof H & string)[], schema };
}

export const MERGE_METHODS = [
  mergeMethod("weight_averaging", "mean of the task vectors", {}),
  mergeMethod("task_arithmetic", "lambda * sum of the task vectors", { lambda: hp(Lambda, 0.3) }),
  mergeMethod("ties", "trim to the top density, elect signs, disjoint mean", {
    density: hp(Density, 0.2),
    lambda: hp(Lambda, 1.0),
    trim: hp(z.enum(["per_tensor", "global"]), "per_tensor"),
  }),
  // DARE's drop rate: 0.1..0.5 suits encoders, 0.9 LLMs (§5); 0.1 is the encoder end.
  mergeMethod("dare_ta", "random drop and rescale, then task arithmetic", {
    drop_rate: hp(DropRate, 0.1),
    lambda: hp(Lambda, 0.3),
    seed: hp(Seed, 42),
  }),
  mergeMethod("dare_ties", "random drop and rescale, then TIES sign election", {
    drop_rate: hp(DropRate, 0.1),
    lambda: hp(Lambda, 1.0),
    seed: hp(Seed, 42),
  }),
  mergeMethod("emr", "EMR-Merging: elected unified vector with per-task masks and rescalers (tuning-free)", {}),
  // §5 says "~n examples per task"; 256 is the toolkit's choice.
  mergeMethod("fisher", "Fisher-weighted average of the full parameters", { samples: hp(Samples, 256) }),
  mergeMethod("regmean", "closed-form least squares of the linear layers' outputs", {
    alpha: hp(z.number().gt(0).max(1, { error: "alpha must be in (0, 1]" }), 0.9),
    samples: hp(Samples, 256),
  }),
  mergeMethod("knots_ta", "KnOTS: shared SVD basis of the LoRA updates, task arithmetic on the aligned parts", {
    lambda: hp(Lambda, 0.3),
  }),
  mergeMethod("knots_ties", "KnOTS with TIES on the aligned parts", { density: hp(Density, 0.2), lambda: hp(Lambda, 1.0) }),
  mergeMethod("core_space", "Core Space: merge the LoRA cores in shared bases, exactly, without densifying", {
    lambda: hp(Lambda, 0.3),
  }),
  mergeMethod("tsv", "TSV-Merge: top singular vectors per task, re-orthogonalised", { lambda: hp(Lambda, 1.0) }),
  mergeMethod("iso_c", "Iso-C: the summed task vector with a flat singular spectrum", { lambda: hp(Lambda, 1.0) }),
  // Iso-CTS's common-subspace fraction: 0.8 is the toolkit's choice.
  mergeMethod("iso_cts", "Iso-CTS: Iso-C on a common subspace plus task-specific directions", {
    lambda: hp(Lambda, 1.0),
    common_fraction: hp(Density, 0.8),
  }),
] as const;

type MethodSpec = (typeof MERGE_METHODS)[number];
export type MergeMethodName = MethodSpec["name"];
export const MergeMethodName = z.enum(MERGE_METHODS.map((m) => m.name) as [MergeMethodName, ...MergeMethodName[]]);

const MethodObject = z.discriminatedUnion(
  "name",
  MERGE_METHODS.map((m) => m.schema) as unknown as [MethodSpec["schema"], ...MethodSpec["schema"][]],
);

/** `- ties` is short for `- {name: ties}` with the method's defaults. */
export const MergeMethodEntry = z.union([MergeMethodName.transform((name) => MethodObject.parse({ name })), MethodObject]);
export type MergeMethodEntry = z.output<typeof MethodObject>;

export function methodSpec(name: MergeMethodName): MethodSpec {
  const spec = MERGE_METHODS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown merge method ${name}`);
  return spec;
}

/** One merge to run: a method with every hyperparameter fixed (or left to its search grid). */
export interface MergeSetting {
  name: MergeMethodName;
  hyperparameters: Record<string, unknown>;
  search: Record<string, unknown[]> | null;
}
