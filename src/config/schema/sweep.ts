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
