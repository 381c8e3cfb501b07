/**
 * The merging methods, as the Python registry (python/osrm_runtime/merge/registry.py) describes
 * them: it is the one source of every method's name, display name, hyperparameters (type, range,
 * default), inputs and reference. `npm run contract` writes that description to
 * src/ops/merge-methods.json; the config's and the merge op's schemas, `osrm merge --help`, the
 * planner and the report are all built from it here. Adding a method is one Python file plus
 * regeneration; nothing on this side lists a method by hand.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { oneOrMany } from "./sweep.ts";

const Hyperparameter = z.strictObject({
  name: z.string(),
  type: z.enum(["float", "int", "choice"]),
  default: z.union([z.number(), z.string(), z.null()]),
  help: z.string(),
  min: z.number().nullable().optional(),
  max: z.number().nullable().optional(),
  exclusive_min: z.boolean().optional(),
  exclusive_max: z.boolean().optional(),
  choices: z.array(z.string()).optional(),
  nullable: z.boolean(),
});
export type HyperparameterSpec = z.infer<typeof Hyperparameter>;

const MethodDescription = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  display_name: z.string(),
  summary: z.string(),
  reference: z.strictObject({ title: z.string(), authors: z.string(), year: z.int(), url: z.string() }),
  /** lora_factors: needs LoRA adapters (works on B and A); dense_deltas: any task vectors. */
  works_on: z.enum(["lora_factors", "dense_deltas"]),
  needs_data: z.array(z.enum(["fisher", "gram"])),
  /** sum / mean: the merged update is exactly that combination of the task updates. */
  linear_combination: z.enum(["sum", "mean"]).nullable(),
  hyperparameters: z.array(Hyperparameter).min(1),
});
export type MethodDescription = z.infer<typeof MethodDescription>;

export const MergeMethodsFile = z.strictObject({ $comment: z.string(), methods: z.array(MethodDescription).min(1) });

const registryFile = fileURLToPath(new URL("../../ops/merge-methods.json", import.meta.url));
export const MERGE_METHODS: readonly MethodDescription[] = MergeMethodsFile.parse(JSON.parse(readFileSync(registryFile, "utf8"))).methods;

export type MergeMethodName = string;
const names = MERGE_METHODS.map((m) => m.name);
export const MergeMethodName = z.enum(names as [string, ...string[]]);

function rangeText(h: HyperparameterSpec): string {
  return `${h.exclusive_min ? "(" : "["}${h.min}, ${h.max}${h.exclusive_max ? ")" : "]"}`;
}

/** One value of a hyperparameter, checked against the registry's range. */
export function hyperparameterValue(h: HyperparameterSpec): z.ZodType {
  let value: z.ZodType;
  if (h.type === "choice") {
    value = z.enum(h.choices as [string, ...string[]]);
  } else {
    const error = `${h.name} must be in ${rangeText(h)}`;
    let n = h.type === "int" ? z.int() : z.number();
    if (typeof h.min === "number") n = h.exclusive_min ? n.gt(h.min, { error }) : n.min(h.min, { error });
    if (typeof h.max === "number") n = h.exclusive_max ? n.lt(h.max, { error }) : n.max(h.max, { error });
    value = n;
  }
  return h.nullable ? value.nullable() : value;
}

export interface MergeMethodSpec extends MethodDescription {
  /** The method in a config: every hyperparameter one value or a sweep list, an optional search grid. */
  entry: z.ZodType;
  /** The method in the merge op's payload: `{name, ...one value per hyperparameter}`, defaults filled. */
  setting: z.ZodObject;
  /** Reads training examples (Fisher, RegMean): the merge payload carries `data`. */
  needsData: boolean;
}

function buildSpec(description: MethodDescription): MergeMethodSpec {
  const fields: Record<string, z.ZodType> = {};
  const values: Record<string, z.ZodType> = {};
  const grids: Record<string, z.ZodType> = {};
  for (const h of description.hyperparameters) {
    const value = hyperparameterValue(h);
    values[h.name] = value.default(h.default as never);
    fields[h.name] = oneOrMany(value).default(h.default as never);
    grids[h.name] = z.array(value).min(2, { error: "a search grid needs at least two values" }).optional();
  }
  const name = z.literal(description.name);
  return {
    ...description,
    needsData: description.needs_data.length > 0,
    entry: z.strictObject({
      name,
      ...fields,
      /** Hyperparameters chosen by the merge op on held-out training examples instead of fixed. */
      search: z.strictObject(grids).optional(),
    }),
    setting: z.strictObject({ name, ...values }),
  };
}

export const MERGE_METHOD_SPECS: readonly MergeMethodSpec[] = MERGE_METHODS.map(buildSpec);

export function methodSpec(name: string): MergeMethodSpec {
  const spec = MERGE_METHOD_SPECS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown merge method ${name}; known: ${names.join(", ")}`);
  return spec;
}

/** How tables name a method (the registry's display name); "individual" rows are the fine-tuned models. */
export function methodDisplayName(name: string): string {
  if (name === "individual") return "Individual";
  return MERGE_METHOD_SPECS.find((m) => m.name === name)?.display_name ?? name;
}

const MethodEntryObject = z.discriminatedUnion(
  "name",
  MERGE_METHOD_SPECS.map((m) => m.entry) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

export type MergeMethodEntry = { name: string; search?: Record<string, unknown[]> } & Record<string, unknown>;
/** `- ties` is short for `- {name: ties}` with the method's defaults. */
export const MergeMethodEntry = z.union([
  MergeMethodName.transform((name) => MethodEntryObject.parse({ name })),
  MethodEntryObject,
]) as unknown as z.ZodType<MergeMethodEntry, unknown>;

/**
 * The method of one merge op call, every hyperparameter one value (the registry's default when
 * not given). Python keeps it as a mapping: its own registry validates it again and builds the method.
 */
export const MergeMethodSetting = z
  .discriminatedUnion("name", MERGE_METHOD_SPECS.map((m) => m.setting) as unknown as [z.ZodObject, ...z.ZodObject[]])
  .meta({ id: "MergeMethodSetting", "x-python": "mapping", description: "{name, ...hyperparameters}: one method of the registry" });
export type MergeMethodSetting = { name: string } & Record<string, unknown>;

/** One merge to run: a method with every hyperparameter fixed (or left to its search grid). */
export interface MergeSetting {
  name: MergeMethodName;
  hyperparameters: Record<string, unknown>;
  search: Record<string, unknown[]> | null;
  /** Reads training examples (Fisher, RegMean): the merge payload carries `data`. */
  needsData: boolean;
}
