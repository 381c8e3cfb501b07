/** Ops about the runtime itself: `noop` (a health check) and `env_info` (what `osrm doctor` shows). */
import { z } from "zod";
import { defineOp } from "./op.ts";

export const noop = defineOp({
  name: "noop",
  summary: "do nothing (a health check; measures the round trip)",
  payload: z.strictObject({}),
  result: z.null(),
});

const TorchInfo = z.strictObject({
  version: z.string(),
  cuda_available: z.boolean(),
  cuda_version: z.string().nullable(),
  gpus: z.array(z.string()),
  bf16_supported: z.boolean(),
  threads: z.int(),
});

export const envInfo = defineOp({
  name: "env_info",
  summary: "the interpreter, package versions, torch's CUDA devices and bf16 support",
  payload: z.strictObject({}),
  result: z.strictObject({
    python: z.string(),
    executable: z.string(),
    prefix: z.string(),
    pid: z.int(),
    packages: z.record(z.string(), z.string().nullable()),
    torch: TorchInfo.nullable(),
  }),
});
export type EnvInfo = z.infer<typeof envInfo.result>;
