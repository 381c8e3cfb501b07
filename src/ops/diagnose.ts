/** `diagnose`: the T x T interference matrix of adapters on the tasks' inputs, from the statistics. */
import { z } from "zod";
import { BackboneObject } from "../config/schema/backbone.ts";
import { defineOp } from "./op.ts";

export const diagnose = defineOp({
  name: "diagnose",
  summary: "the interference matrix: how far each adapter shifts each task's layer outputs, with tables and a heat map",
  payload: z.strictObject({
    model: BackboneObject,
    adapters: z.array(z.strictObject({ task: z.string().min(1), path: z.string().min(1) }).meta({ id: "NamedAdapter" })).min(1),
    stats: z.record(z.string(), z.string().min(1)).describe("task name -> statistics file: the matrix's columns"),
    out: z.string().min(1),
    title: z.string().nullable().default(null).describe("the heat map's title"),
  }),
  result: z.strictObject({
    matrix: z.array(z.array(z.number())),
    tasks: z.array(z.string()),
    inputs: z.array(z.string()),
    image: z.string(),
    table: z.string(),
    csv: z.string(),
    json: z.string(),
    modules: z.int(),
    diagonal_mean: z.number().nullable(),
    off_diagonal_mean: z.number().nullable(),
  }),
});
export type DiagnoseResult = z.infer<typeof diagnose.result>;
