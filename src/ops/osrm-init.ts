/** `osrm_init`: task t's OSRM init adapter: A from the other tasks' statistics, B = 0 (a PEFT folder). */
import { z } from "zod";
import { LoraSetting } from "../config/schema/lora.ts";
import { Osrm } from "../config/schema/osrm.ts";
import { defineOp } from "./op.ts";

export const osrmInit = defineOp({
  name: "osrm_init",
  summary: "a task's OSRM init adapter: A orthogonal to the other tasks' inputs, B = 0, as a PEFT folder",
  payload: z.strictObject({
    task: z.string().min(1).describe("the task to initialise (its own statistics, if given, are ignored)"),
    stats: z.record(z.string(), z.string().min(1)).describe("task name -> statistics file (from collect_stats)"),
    lora: LoraSetting.prefault({}),
    osrm: Osrm.prefault({}),
    out: z.string().min(1).describe("the folder the init adapter is written to"),
  }),
  result: z.strictObject({
    adapter: z.string(),
    modules: z.array(z.string()),
    variant: z.string(),
    rank: z.int(),
    inputs: z.int(),
    others: z.array(z.string()),
    residual: z.strictObject({ mean: z.number(), max: z.number() }),
  }),
});
export type InitResult = z.infer<typeof osrmInit.result>;
