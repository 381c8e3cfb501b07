/** Fills a job's payload template in just before the call: folders and input results. */
import { isPayloadRef, type Job } from "./job.ts";

export interface PayloadSources {
  /** Where this job's op writes its artifacts (a staging folder while it runs). */
  ownOut: string;
  /** An input job's artifacts folder. */
  outOf(key: string): string;
  /** An input job's stored result. */
  resultOf(key: string): unknown;
}

export class PayloadError extends Error {}

function fill(value: unknown, job: Job, sources: PayloadSources): unknown {
  if (isPayloadRef(value)) {
    if (value.$ref === "own-out") return sources.ownOut;
    if (value.$ref === "out") return sources.outOf(value.job);
    const result = sources.resultOf(value.job) as Record<string, unknown> | null;
    const field = result?.[value.field];
    if (field === undefined) {
      throw new PayloadError(`${job.label}: its input ${value.job} returned no '${value.field}' (see its result.json); the op's result must name it (docs/ops.md)`);
    }
    return field;
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, job, sources));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, job, sources)]));
  }
  return value;
}

export function resolvePayload(job: Job, sources: PayloadSources): Record<string, unknown> {
  return fill(job.payload, job, sources) as Record<string, unknown>;
}
