/**
 * A config that cannot be used: every problem found, each with the file, the key path, the line
 * when the key is in the file, what was given and what is expected. Exit code 2 (UsageError).
 */
import { UsageError } from "../errors.ts";

export type KeyPath = (string | number)[];

export interface ConfigIssue {
  path: KeyPath;
  /** What is expected, or what is wrong. */
  message: string;
  /** What the config holds at the path ("missing" when nothing). */
  given?: string;
  /** 1-based line in the file, when the key (or its nearest parent) is found there. */
  line?: number;
  /** Where the value came from when not from the file: "--set lora.rank=x", a per-task file. */
  origin?: string;
}

/** `training.per_task.lr`, `tasks[2].source.kind`. */
export function formatKeyPath(path: KeyPath): string {
  if (path.length === 0) return "(top level)";
  return path.map((segment, i) => (typeof segment === "number" ? `[${segment}]` : i === 0 ? segment : `.${segment}`)).join("");
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.origin ? ` (${issue.origin})` : issue.line !== undefined ? ` (line ${issue.line})` : "";
  const given = issue.given !== undefined ? `; got ${issue.given}` : "";
  return `  ${formatKeyPath(issue.path)}${where}: ${issue.message}${given}`;
}

export class ConfigError extends UsageError {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    const shown = issues.slice(0, 20).map(formatIssue);
    if (issues.length > 20) shown.push(`  ... and ${issues.length - 20} more`);
    super(`invalid config ${file}:\n${shown.join("\n")}`);
  }
}

/** Renders a config value for a message, short. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
