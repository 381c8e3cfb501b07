/** `collect_stats`: one task's layer-input statistics on the pretrained model, cached as safetensors. */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { Block } from "../config/schema/lora.ts";
import { Osrm } from "../config/schema/osrm.ts";
import { Task } from "../config/schema/task.ts";
import { defineOp } from "./op.ts";

export const collectStats = defineOp({
  name: "collect_stats",
  summary: "one task's layer-input statistics (second moments, mean vectors) on the pretrained model, cached",
  payload: z.strictObject({
    model: BackboneObject,
    task: Task,
    blocks: z.array(Block).min(1).default(["q", "v"]).describe("the adapted blocks whose inputs are summed"),
    osrm: Osrm.prefault({}).describe("samples, seed and pooling choose the examples and the means"),
    max_length: z.int().positive().nullable().default(null).describe("tokens per example; null: the task's max_length"),
    batch_size: z.int().min(2).default(50).describe("examples per forward pass (length-bucketed, never 1)"),
    cache_dir: z.string().min(1).describe("the folder the statistics file is cached in"),
  }),
  result: z.strictObject({
    file: z.string(),
    samples: z.int(),
    tokens: z.int(),
    modules: z.array(z.string()),
    inputs: z.int(),
    pooling: z.string(),
    cached: z.boolean(),
    warnings: z.array(z.string()),
  }),
});
export type StatsResult = z.infer<typeof collectStats.result>;
