/**
 * `--set path=value` overrides, applied to the file's data before validation so they are checked
 * exactly like the file. The value is read as YAML, so `--set training.lr=1e-4` is a number,
 * `--set lora.blocks=[q,k,v]` a list and `--set glue_dir=null` null.
 */
import { parse as parseYaml } from "yaml";
import { UsageError } from "../errors.ts";
import { formatKeyPath, type KeyPath } from "./errors.ts";

export interface Override {
  path: KeyPath;
  value: unknown;
  /** As written on the command line, for messages. */
  text: string;
}

/** `tasks[0].max_train` and `tasks.0.max_train` are the same path. */
export function parseKeyPath(text: string): KeyPath {
  const path: KeyPath = [];
  for (const part of text.split(".")) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!match || (!match[1] && !match[2])) throw new UsageError(`--set ${text}: '${part}' is not a key (write a.b.c or a[0].b)`);
    if (match[1]) path.push(/^\d+$/.test(match[1]) ? Number(match[1]) : match[1]);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) path.push(Number(index[1]));
  }
  return path;
}

export function parseOverride(text: string): Override {
  const at = text.indexOf("=");
  if (at <= 0) throw new UsageError(`--set ${text}: expected key.path=value, e.g. --set training.lr=1e-4`);
  const path = parseKeyPath(text.slice(0, at).trim());
  const raw = text.slice(at + 1);
  let value: unknown;
  try {
    value = raw.trim() === "" ? "" : parseYaml(raw);
  } catch (error) {
    throw new UsageError(`--set ${text}: the value is not valid YAML (${(error as Error).message.split("\n")[0]})`);
  }
  return { path, value, text };
}

/** Sets the value in place, creating missing mappings on the way; refuses to descend into a scalar. */
export function applyOverride(data: Record<string, unknown>, override: Override): void {
  let node: unknown = data;
  override.path.forEach((segment, i) => {
    const container = node as Record<string | number, unknown>;
    if (i === override.path.length - 1) {
      container[segment] = override.value;
      return;
    }
    const next = container[segment];
    if (next === undefined || next === null) {
      container[segment] = typeof override.path[i + 1] === "number" ? [] : {};
    } else if (typeof next !== "object") {
      throw new UsageError(
        `--set ${override.text}: ${formatKeyPath(override.path.slice(0, i + 1))} is ${JSON.stringify(next)}, not a mapping or list to set a key in`,
      );
    }
    node = container[segment];
  });
}
