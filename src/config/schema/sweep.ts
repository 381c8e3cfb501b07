/**
 * Sweep axes: a knob that accepts one value or a list of values; a list expands into one run per
 * value (src/plan/sweep.ts). Only the knobs that are declared with `oneOrMany` are axes.
 */
import { z } from "zod";

export function oneOrMany<T extends z.ZodType>(value: T) {
  return z.union([value, z.array(value).min(1, { error: "a sweep list needs at least one value" })]);
}

/** The values of an axis, whether it was written as one value or a list. */
export function valuesOf<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

interface DefaultDef {
  type: "default";
  innerType: z.ZodType;
  defaultValue: unknown;
}

/**
 * The config's form of a payload piece: the knobs named in `axes` take one value or a sweep list,
 * with the same default. Declared once (the payload piece), so a knob's range and default cannot
 * differ between a config and what an op receives.
 */
export function sweepable<S extends z.ZodRawShape, K extends keyof S & string>(setting: z.ZodObject<S>, axes: readonly K[]) {
  const shape: Record<string, z.ZodType> = { ...(setting.shape as unknown as Record<string, z.ZodType>) };
  for (const axis of axes) {
    const def = (shape[axis] as unknown as { _zod: { def: DefaultDef } })._zod.def;
    if (def.type !== "default") throw new Error(`sweep axis ${axis} needs a default`);
    shape[axis] = oneOrMany(def.innerType).default(def.defaultValue as never);
  }
  return z.strictObject(shape as { [P in keyof S]: P extends K ? z.ZodDefault<z.ZodUnion<[S[P], z.ZodArray<S[P]>]>> : S[P] });
}
