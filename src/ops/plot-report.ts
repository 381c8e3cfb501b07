/** `plot_report`: the report's comparing figures (PNG, SVG, PDF) from the finished jobs' results. */
import { z } from "zod";
import { CurvePoint } from "./merge.ts";
import { defineOp } from "./op.ts";

const InitName = z.string().min(1);
const Seed = z.int().nullable().describe("the sweep point's training seed; null when seeds do not vary");

export const plotReport = defineOp({
  name: "plot_report",
  summary: "the report's figures: robustness curves of both inits on one axis per method, interference on one colour scale, training losses",
  payload: z.strictObject({
    out: z.string().min(1),
    curves: z
      .array(z.strictObject({ method: z.string(), init: InitName, seed: Seed, points: z.array(CurvePoint) }).meta({ id: "RobustnessCurve" }))
      .describe("each merge's scores over the evaluation's lambda grid"),
    chosen: z
      .array(z.strictObject({ method: z.string(), init: InitName, seed: Seed, lambda: z.number() }).meta({ id: "ChosenLambda" }))
      .describe("the lambdas searches chose on held-out training data"),
    heatmaps: z
      .array(
        z
          .strictObject({ init: InitName, seed: Seed, tasks: z.array(z.string()), inputs: z.array(z.string()), matrix: z.array(z.array(z.number())) })
          .meta({ id: "InterferenceMatrix" }),
      )
      .describe("the interference matrices of the trained adapters"),
    losses: z
      .array(
        z
          .strictObject({ task: z.string(), init: InitName, seed: Seed, history: z.array(z.record(z.string(), z.unknown()).meta({ "x-python": "mapping" })) })
          .meta({ id: "TrainingHistory" }),
      )
      .describe("every training job's per-epoch history (epoch, loss, ...)"),
  }),
  result: z.strictObject({
    figures: z.array(
      z.strictObject({
        name: z.string(),
        kind: z.enum(["robustness", "interference", "loss"]),
        title: z.string(),
        caption: z.string(),
        png: z.string(),
        svg: z.string(),
        pdf: z.string(),
        ratios: z.record(z.string(), z.number().nullable()).optional(),
      }),
    ),
    versions: z.record(z.string(), z.string().nullable()),
    hardware: z.strictObject({
      machine: z.string(),
      processor: z.string(),
      cpus: z.int().nullable(),
      gpus: z.array(z.string()),
      threads: z.int().optional(),
    }),
  }),
});
export type PlotReportResult = z.infer<typeof plotReport.result>;
