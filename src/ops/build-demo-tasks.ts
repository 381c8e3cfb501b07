/** `build_demo_tasks`: the demo task suite, built from the npm data packages into a folder. */
import { z } from "zod";
import { defineOp } from "./op.ts";

export const buildDemoTasks = defineOp({
  name: "build_demo_tasks",
  summary: "build the demo task suite (real labelled tasks from the npm data packages) into a folder",
  payload: z.strictObject({
    node_modules: z.string().min(1).describe("where the npm data packages are installed"),
    out: z.string().min(1),
    seed: z.int().nonnegative().default(42).describe("seed of the suite's sampling"),
    tasks: z.array(z.string().min(1)).min(1).nullable().default(null).describe("only these tasks; null: the default suite"),
    sizes: z.strictObject({ train: z.int().positive(), eval: z.int().positive() }).nullable().default(null),
  }),
  result: z.looseObject({ tasks: z.array(z.looseObject({ name: z.string() })) }),
});
