/**
 * Turns zod's validation issues into ConfigIssues that say, for each problem, the key path, what
 * is expected and what was given. Unions are the hard part: zod reports every branch's failure,
 * and the useful one is the branch that matched the value's shape (an object with a bad field,
 * not "expected a string").
 */
import type { z } from "zod";
import { describeValue, type ConfigIssue, type KeyPath } from "./errors.ts";

type Issue = z.core.$ZodIssue;

export function valueAt(data: unknown, path: KeyPath): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

/** A branch failed only because the value had the wrong type for it altogether. */
function rejectedOutright(branch: Issue[]): boolean {
  return branch.length === 1 && branch[0]!.path.length === 0 && (branch[0]!.code === "invalid_type" || branch[0]!.code === "invalid_value");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  if (typeof value === "object") return "mapping";
  return typeof value;
}

function expectedOf(issue: Issue): string {
  if (issue.code === "invalid_type") return issue.expected === "array" ? "a list" : issue.expected === "object" ? "a mapping" : `a ${issue.expected}`;
  if (issue.code === "invalid_value") return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  return issue.message;
}

// ---- the schema's own keys, for "unknown key" messages -------------------------------------

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  element?: z.ZodType;
  valueType?: z.ZodType;
  values?: unknown[];
}
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas a value at `path` may be checked against, following the data's own shape. */
function objectSchemasAt(schema: z.ZodType, path: KeyPath, data: unknown, depth = 0): Def[] {
  const def = defOf(schema);
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
      return objectSchemasAt(def.innerType!, path, data, depth);
    case "pipe":
      return objectSchemasAt(def.in!, path, data, depth);
    case "union":
      return def.options!.flatMap((option) => objectSchemasAt(option, path, data, depth));
    case "array":
      return depth < path.length ? objectSchemasAt(def.element!, path, data, depth + 1) : [];
    case "record":
      return depth < path.length ? objectSchemasAt(def.valueType!, path, data, depth + 1) : [];
    case "object": {
      if (depth === path.length) {
        // A method or a source is picked by its discriminator: only that branch's keys apply.
        const here = valueAt(data, path) as Record<string, unknown> | undefined;
        for (const discriminator of ["name", "kind"]) {
          const literal = def.shape![discriminator];
          if (literal && here && typeof here === "object" && defOf(literal).type === "literal" && !defOf(literal).values!.includes(here[discriminator])) return [];
        }
        return [def];
      }
      const next = def.shape![String(path[depth])];
      return next ? objectSchemasAt(next, path, data, depth + 1) : [];
    }
    default:
      return [];
  }
}

function knownKeys(schema: z.ZodType, objectPath: KeyPath, data: unknown): string[] {
  const keys = new Set<string>();
  for (const def of objectSchemasAt(schema, objectPath, data)) for (const key of Object.keys(def.shape!)) keys.add(key);
  return [...keys];
}

// ---- issues -----------------------------------------------------------------------------------

export function describeIssues(schema: z.ZodType, issues: readonly Issue[], data: unknown, prefix: KeyPath = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as KeyPath)];
    const given = valueAt(data, path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeys(schema, path, data).filter((k) => !issue.keys.includes(k));
        for (const key of issue.keys) {
          out.push({ path: [...path, key], message: `unknown key${known.length ? `; expected one of: ${known.join(", ")}` : ""}` });
        }
        break;
      }
      case "invalid_union": {
        if (issue.errors.length === 0 && "discriminator" in issue) {
          const options = (issue as { options?: unknown[] }).options ?? [];
          out.push({ path, message: `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}`, given: describeValue(given) });
          break;
        }
        const plausible = issue.errors.filter((branch) => !rejectedOutright(branch));
        if (plausible.length > 0) {
          // The branch that got furthest into the value explains the problem best.
          const best = plausible.reduce((a, b) => (depthOf(b) > depthOf(a) ? b : a));
          out.push(...describeIssues(schema, best, data, path));
        } else {
          const expected = [...new Set(issue.errors.map((branch) => expectedOf(branch[0]!)))].join(", or ");
          out.push({ path, message: `expected ${expected}`, given: given === undefined ? "missing" : `${describeValue(given)} (${typeName(given)})` });
        }
        break;
      }
      case "invalid_type":
        out.push({
          path,
          message: given === undefined ? `required: ${expectedOf(issue)}` : `expected ${expectedOf(issue)}`,
          given: given === undefined ? "missing" : `${describeValue(given)} (${typeName(given)})`,
        });
        break;
      case "invalid_value":
        out.push({ path, message: `expected ${expectedOf(issue)}`, given: describeValue(given) });
        break;
      default:
        out.push({ path, message: issue.message, given: describeValue(given) });
    }
  }
  return out;
}

function depthOf(branch: Issue[]): number {
  return Math.max(...branch.map((issue) => issue.path.length)) * 100 - branch.length;
}
