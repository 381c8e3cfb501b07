import { z } from "zod";

/** A progress event emitted by a Python op (see python/osrm_runtime/context.py). */
export const ProgressEvent = z.object({
  op: z.string(),
  /** What is progressing ("features", "epoch 3", "merge"); one bar per task. */
  task: z.string(),
  current: z.number().optional(),
  total: z.number().optional(),
  unit: z.string().optional(),
  message: z.string().optional(),
  metrics: z.record(z.string(), z.union([z.number(), z.string(), z.null()])).optional(),
});
export type ProgressEvent = z.infer<typeof ProgressEvent>;

/** What every op returns across the boundary (python/osrm_runtime/dispatch.py). */
export const ResultEnvelope = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({
    ok: z.literal(false),
    type: z.string(),
    module: z.string().optional(),
    message: z.string(),
    /** A ValueError in Python: bad input the user can fix (a payload field, a file, a shape). */
    bad_input: z.boolean().optional(),
    traceback: z.string(),
    /** The library's own text behind an input error, for the job log (python/osrm_runtime/errors.py). */
    detail: z.string().optional(),
    /** A write the OS refused (disk full, read-only, permission denied): errno name and path. */
    os_error: z.object({ code: z.string(), path: z.string().nullable() }).optional(),
  }),
]);
export type ResultEnvelope = z.infer<typeof ResultEnvelope>;

/** Marker in front of progress lines written by worker processes (python -m osrm_runtime). */
export const PROGRESS_MARKER = "@@osrm-progress ";
