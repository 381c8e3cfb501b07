/**
 * Content hashes of jobs: sha256 of a canonical JSON (keys sorted, undefined dropped), so the same
 * settings give the same folder name on every machine and in every key order.
 */
import { createHash } from "node:crypto";

function scalar(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`cannot hash the number ${value}`);
  return JSON.stringify(value) ?? "null";
}

/**
 * A canonical JSON writer that remembers the text of frozen objects: a plan shares the same
 * (frozen) model, task and settings objects across thousands of jobs, so each is serialised once,
 * and a frozen object cannot change behind the memo. `substitute` may give the text to write in
 * place of an object (a reference to another job, as that job's hash).
 */
export class CanonicalJson {
  private readonly memo = new WeakMap<object, string>();
  constructor(private readonly substitute: (value: object) => string | undefined = () => undefined) {}

  write(value: unknown): string {
    if (value === null || typeof value !== "object") return scalar(value);
    const frozen = Object.isFrozen(value);
    const known = frozen ? this.memo.get(value) : undefined;
    if (known !== undefined) return known;
    let text = this.substitute(value);
    if (text !== undefined) return text;
    if (Array.isArray(value)) text = `[${value.map((v) => this.write(v)).join(",")}]`;
    else {
      const record = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(record).sort()) {
        if (record[key] !== undefined) parts.push(`${JSON.stringify(key)}:${this.write(record[key])}`);
      }
      text = `{${parts.join(",")}}`;
    }
    if (frozen) this.memo.set(value, text);
    return text;
  }
}

export function canonicalJson(value: unknown): string {
  return new CanonicalJson().write(value);
}

/** Freezes a plain JSON value and everything in it (so CanonicalJson may remember its text). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
