/**
 * The merging methods a config may name, each describing its own hyperparameters (ALGORITHMS.md §5).
 * The Python registry (python/osrm_runtime/merge/registry.py) is the implementation and owns the
 * names, defaults and ranges; this is its mirror for validating configs before any work starts,
 * and test/config-merge-methods.test.ts fails when the two drift apart. Every hyperparameter is a
 * sweep axis (a list expands into one merge per value) or may be searched by the merge op on
 * held-out training examples (`search: {lambda: [0.1, 0.3, ...]}`).
 */
import { z } from "zod";
import { oneOrMany } from "./sweep.ts";

// Ranges as python/osrm_runtime/merge/hyperparams.py declares them (test/config-merge-methods.test.ts
// checks the two registries agree); lambda is also kept > 0, since lambda 0 merges nothing.
const between = (name: string, low: number, high: number, open: "" | "low" | "high") => {
  const range = `${open === "low" ? "(" : "["}${low}, ${high}${open === "high" ? ")" : "]"}`;
  const error = `${name} must be in ${range}`;
  const lower = open === "low" ? z.number().gt(low, { error }) : z.number().min(low, { error });
  return open === "high" ? lower.lt(high, { error }) : lower.max(high, { error });
};
const Lambda = between("lambda", 0, 10, "low");
const Density = between("density", 0, 1, "low");
const DropRate = between("drop_rate", 0, 1, "high");
const Seed = z.int().min(0).max(2 ** 31 - 1);
const TrimScope = z.enum(["tensor", "global"]);

interface Hyperparameter<T extends z.ZodType> {
  value: T;
  fallback: z.output<T>;
}
const hp = <T extends z.ZodType>(value: T, fallback: z.output<T>): Hyperparameter<T> => ({ value, fallback });

type Hyperparameters = Record<string, Hyperparameter<z.ZodType>>;

function mergeMethod<const N extends string, H extends Hyperparameters>(name: N, description: string, hyperparameters: H, needsData = false) {
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
    /** Hyperparameters chosen by the merge op on held-out training examples instead of fixed. */
    search: z.strictObject(grids as Grids).optional(),
  });
  return { name, description, hyperparameters: Object.keys(hyperparameters) as (keyof H & string)[], needsData, schema };
}

const lambda = (fallback: number) => ({ lambda: hp(Lambda, fallback) });

export const MERGE_METHODS = [
  mergeMethod("weight_averaging", "mean of the task vectors", lambda(1.0)),
  mergeMethod("task_arithmetic", "sum of the task vectors, scaled by lambda", lambda(0.3)),
  mergeMethod("ties", "trim to the top density, elect a sign per entry, mean of the agreeing entries", {
    ...lambda(1.0),
    density: hp(Density, 0.2),
    trim_scope: hp(TrimScope, "tensor"),
  }),
  mergeMethod("dare_ta", "drop entries with probability drop_rate and rescale, then sum", {
    ...lambda(0.3),
    drop_rate: hp(DropRate, 0.3),
    seed: hp(Seed, 42),
  }),
  mergeMethod("dare_ties", "DARE's drop and rescale, then TIES", {
    ...lambda(1.0),
    drop_rate: hp(DropRate, 0.3),
    seed: hp(Seed, 42),
    density: hp(Density, 1.0),
    trim_scope: hp(TrimScope, "tensor"),
  }),
  mergeMethod("emr", "EMR-Merging: unified task vector plus per-task masks and rescalers (tuning-free)", lambda(1.0)),
  mergeMethod("fisher", "average weighted by each task's diagonal Fisher information", { ...lambda(1.0), floor: hp(between("floor", 0, 1, ""), 1e-6) }, true),
  mergeMethod("regmean", "per linear layer, the least-squares merge on the tasks' inputs", { ...lambda(1.0), alpha: hp(between("alpha", 0, 1, ""), 0.9) }, true),
  mergeMethod("knots_ta", "KnOTS: task arithmetic in the shared SVD basis of the updates", lambda(0.3)),
  mergeMethod("knots_ties", "KnOTS: TIES in the shared SVD basis of the updates", { ...lambda(1.0), density: hp(Density, 0.2) }),
  mergeMethod("knots_dare_ties", "KnOTS: DARE-TIES in the shared SVD basis of the updates", {
    ...lambda(1.0),
    drop_rate: hp(DropRate, 0.3),
    seed: hp(Seed, 42),
    density: hp(Density, 1.0),
  }),
  mergeMethod("core_space_ta", "Core Space: task arithmetic of the LoRA cores (exactly dense TA)", lambda(0.3)),
  mergeMethod("core_space_ties", "Core Space: TIES of the LoRA cores", { ...lambda(1.0), density: hp(Density, 0.2) }),
  // sv_fraction null: 1/T of each layer's rank per task.
  mergeMethod("tsv", "TSV-Merge: top singular components per task, re-orthogonalised", { ...lambda(1.0), sv_fraction: hp(Density.nullable(), null) }),
  mergeMethod("iso_c", "Iso-C: task arithmetic with a flat singular spectrum", lambda(1.0)),
  mergeMethod("iso_cts", "Iso-CTS: isotropic common subspace plus task-specific directions", {
    ...lambda(1.0),
    common_fraction: hp(between("common_fraction", 0, 1, ""), 0.8),
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
  /** Reads training examples (Fisher, RegMean): the merge payload carries `data`. */
  needsData: boolean;
}
