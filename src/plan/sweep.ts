/**
 * Sweep expansion: the knobs written as lists (init, training.seed, training.lr, lora.rank,
 * lora.blocks, and any merge hyperparameter) multiply into points. A point names only the axes that
 * vary, so labels and tables stay short.
 */
import type { Experiment } from "../config/resolve.ts";
import type { Block } from "../config/schema/lora.ts";
import { methodSpec, type MergeMethodEntry, type MergeSetting } from "../config/schema/merge-methods.ts";
import type { InitKind } from "../config/schema/osrm.ts";
import { valuesOf } from "../config/schema/sweep.ts";

export interface SweepPoint {
  seed: number;
  lr: number;
  rank: number;
  blocks: Block[];
}

export interface Sweep {
  inits: readonly InitKind[];
  points: SweepPoint[];
  /** Axes with more than one value, in a fixed order. */
  varying: (keyof SweepPoint)[];
}

function cartesian<T extends Record<string, readonly unknown[]>>(axes: T): { [K in keyof T]: T[K][number] }[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [name, values] of Object.entries(axes)) {
    points = points.flatMap((point) => values.map((value) => ({ ...point, [name]: value })));
  }
  return points as { [K in keyof T]: T[K][number] }[];
}

/** lora.blocks is a sweep when it is a list of lists. */
function blockSets(blocks: Experiment["lora"]["blocks"]): Block[][] {
  return Array.isArray(blocks[0]) ? (blocks as Block[][]) : [blocks as Block[]];
}

export function expandSweep(experiment: Experiment): Sweep {
  const axes = {
    seed: valuesOf(experiment.training.seed),
    lr: valuesOf(experiment.training.lr),
    rank: valuesOf(experiment.lora.rank),
    blocks: blockSets(experiment.lora.blocks),
  };
  const varying = (Object.keys(axes) as (keyof SweepPoint)[]).filter((name) => axes[name].length > 1);
  return { inits: valuesOf(experiment.init), points: cartesian(axes), varying };
}

/** The varying part of a point, for labels and table rows. */
export function pointCoords(point: SweepPoint, varying: (keyof SweepPoint)[]): Record<string, unknown> {
  return Object.fromEntries(varying.map((name) => [name, point[name]]));
}

/** Every merge a method entry asks for: one per combination of its listed hyperparameters. */
export function expandMergeMethod(entry: MergeMethodEntry): MergeSetting[] {
  const spec = methodSpec(entry.name);
  const fields = entry as Record<string, unknown>;
  const axes = Object.fromEntries(spec.hyperparameters.map(({ name }) => [name, valuesOf(fields[name])]));
  const search = (entry.search ?? null) as Record<string, unknown[]> | null;
  return cartesian(axes).map((hyperparameters) => ({ name: entry.name, hyperparameters, search, needsData: spec.needsData }));
}

export function formatCoords(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(" ");
}
