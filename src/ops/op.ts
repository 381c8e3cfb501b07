/**
 * The contract of one Python op: its name, a one-line summary, and the zod schemas of its payload
 * and result. The payload schema is the only place a payload field and its default are declared:
 * TypeScript types come from it, `npm run contract` turns it into the JSON Schema that Python
 * validates every payload against (python/osrm_runtime/contract/), and `callOp` checks both
 * directions of every call.
 */
import { z } from "zod";
import { OsrmError, UsageError } from "../errors.ts";
import type { CallOptions, Runtime } from "../runtime/runtime.ts";

export interface Op<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  payload: P;
  result: R;
  /** Registered by the Python runtime only when tests ask for it (OSRM_TESTING_OPS=1). */
  testing: boolean;
}

export function defineOp<P extends z.ZodType, R extends z.ZodType>(op: { name: string; summary: string; payload: P; result: R; testing?: boolean }): Op<P, R> {
  return { ...op, testing: op.testing ?? false };
}

/** What a caller may give: fields with defaults may be left out. */
export type PayloadOf<O extends Op> = z.input<O["payload"]>;
/** The payload as sent: every default filled in. */
export type FullPayloadOf<O extends Op> = z.output<O["payload"]>;
export type ResultOf<O extends Op> = z.output<O["result"]>;

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join(".") || "(top level)";
  return `${path}: ${issue.message}`;
}

/** A payload that does not match its op's schema: the caller's input is wrong (exit code 2). */
export class PayloadError extends UsageError {}

/** The runtime returned a result its contract does not describe: the two sides have drifted. */
export class ResultContractError extends OsrmError {}

export function checkPayload<O extends Op>(op: O, payload: unknown): FullPayloadOf<O> {
  const parsed = op.payload.safeParse(payload);
  if (!parsed.success) throw new PayloadError(`${op.name}: ${firstIssue(parsed.error)}`);
  return parsed.data as FullPayloadOf<O>;
}

export function checkResult<O extends Op>(op: O, value: unknown): ResultOf<O> {
  const parsed = op.result.safeParse(value);
  if (!parsed.success) {
    throw new ResultContractError(
      `${op.name}: the Python runtime returned a result that does not match its contract (${firstIssue(parsed.error)}); ` +
        `the runtime and src/ops/${op.name}.ts disagree`,
    );
  }
  return parsed.data as ResultOf<O>;
}

/** Calls an op with its payload checked (defaults filled) and its result checked. */
export async function callOp<O extends Op>(runtime: Runtime, op: O, payload: PayloadOf<O>, options: CallOptions = {}): Promise<ResultOf<O>> {
  const value = await runtime.call(op.name, checkPayload(op, payload), options);
  return checkResult(op, value);
}
