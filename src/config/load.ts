/**
 * Reading an experiment: YAML (with line numbers kept for messages), `--set` overrides, zod
 * validation, then resolution. Everything is checked before any work starts; every problem found
 * is reported at once as a ConfigError (exit code 2).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError, type ConfigIssue } from "./errors.ts";
import { describeIssues } from "./issues.ts";
import { applyOverride, parseOverride, type Override } from "./overrides.ts";
import { configDirOf, resolveExperiment, type Experiment } from "./resolve.ts";
import { ExperimentFile } from "./schema/experiment.ts";
import { locate } from "./yaml-lines.ts";

export interface LoadOptions {
  /** `--set key.path=value` strings, applied in order. */
  overrides?: string[];
  /** Where `output` is relative to (default: the process's working directory). */
  cwd?: string;
}

export function loadExperiment(file: string, options: LoadOptions = {}): Experiment {
  const path = resolve(options.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [{ path: [], message: code === "ENOENT" ? "the file does not exist" : `cannot read it (${code ?? (error as Error).message})` }]);
  }
  return parseExperiment(text, { ...options, file: path, label: file });
}

export function parseExperiment(text: string, options: LoadOptions & { file?: string; label?: string } = {}): Experiment {
  const cwd = options.cwd ?? process.cwd();
  const label = options.label ?? options.file ?? "<config>";
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      label,
      doc.errors.map((e) => ({ path: [], line: lines.linePos(e.pos[0]).line, message: `YAML syntax: ${e.message.split("\n")[0]}` })),
    );
  }
  const data = doc.toJS() as unknown;
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(label, [{ path: [], message: "expected a mapping of keys (name, backbone, tasks, ...)", given: Array.isArray(data) ? "a list" : String(data) }]);
  }
  const overrides: Override[] = (options.overrides ?? []).map(parseOverride);
  for (const override of overrides) applyOverride(data as Record<string, unknown>, override);

  const place = (issue: ConfigIssue): ConfigIssue => {
    if (issue.origin) return issue;
    const override = [...overrides].reverse().find((o) => o.path.every((segment, i) => String(issue.path[i]) === String(segment)));
    if (override) return { ...issue, origin: `from --set ${override.text}` };
    const found = locate(doc, lines, issue.path);
    return found ? { ...issue, line: found.line } : issue;
  };

  const parsed = ExperimentFile.safeParse(data);
  if (!parsed.success) throw new ConfigError(label, describeIssues(ExperimentFile, parsed.error.issues, data).map(place));
  const { experiment, issues } = resolveExperiment(parsed.data, { configDir: configDirOf(options.file ?? null, cwd), cwd, file: options.file ?? null }, data);
  if (issues.length > 0) throw new ConfigError(label, issues.map(place));
  return experiment;
}
