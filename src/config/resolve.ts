/**
 * From a validated file to the Experiment the planner consumes: task shorthands expanded, paths
 * made absolute and checked, per-task files read, and the checks that span several keys. Relative
 * paths in a config are relative to the config's folder; `output` is relative to the working
 * directory (where runs/ goes by default).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { describeValue, type ConfigIssue } from "./errors.ts";
import { describeIssues } from "./issues.ts";
import type { ExperimentFile } from "./schema/experiment.ts";
import { Task, type TaskEntry } from "./schema/task.ts";
import { PER_TASK_KNOBS, type PerTaskKnob, type Training } from "./schema/training.ts";

/** Per-task values after files are read: knob -> task -> value. */
export type PerTaskValues = Partial<Record<PerTaskKnob, Record<string, number>>>;

export type Experiment = Omit<ExperimentFile, "tasks" | "glue_dir" | "output" | "training"> & {
  /** The config file it came from (absolute), or null when built in code. */
  file: string | null;
  tasks: Task[];
  /** The run folder, absolute. */
  output: string;
  training: Omit<Training, "per_task"> & { per_task: PerTaskValues };
};

export interface ResolveContext {
  /** Folder that relative paths in the config are relative to. */
  configDir: string;
  /** Folder that `output` is relative to. */
  cwd: string;
  file: string | null;
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

/** A backbone written as a path (not a hub id) is a local folder. */
export function isLocalPath(nameOrPath: string): boolean {
  return /^(\.{1,2}\/|\/|~)/.test(nameOrPath);
}

export function resolveExperiment(parsed: ExperimentFile, ctx: ResolveContext, raw: unknown): { experiment: Experiment; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const absolute = (path: string) => resolve(ctx.configDir, expandHome(path));
  const mustExist = (path: string, keyPath: (string | number)[], kind: "file" | "folder") => {
    const full = absolute(path);
    if (!existsSync(full)) issues.push({ path: keyPath, message: `the ${kind} ${full} does not exist`, given: describeValue(path) });
    else if (kind === "folder" && !statSync(full).isDirectory()) issues.push({ path: keyPath, message: `${full} is not a folder`, given: describeValue(path) });
    else if (kind === "file" && !statSync(full).isFile()) issues.push({ path: keyPath, message: `${full} is not a file`, given: describeValue(path) });
    return full;
  };

  const backbone = { ...parsed.backbone };
  if (isLocalPath(backbone.name_or_path)) {
    const rawIsString = typeof (raw as { backbone?: unknown }).backbone === "string";
    backbone.name_or_path = mustExist(backbone.name_or_path, rawIsString ? ["backbone"] : ["backbone", "name_or_path"], "folder");
  }

  const glueDir = parsed.glue_dir === null ? null : mustExist(parsed.glue_dir, ["glue_dir"], "folder");
  const tasks = parsed.tasks.map((entry: TaskEntry, i): Task => {
    if (typeof entry === "string") return Task.parse({ name: entry, source: { kind: "glue", task: entry, dir: glueDir } });
    const source = entry.source;
    if (source.kind === "glue") {
      const dir = source.dir === null ? glueDir : mustExist(source.dir, ["tasks", i, "source", "dir"], "folder");
      return { ...entry, source: { ...source, dir } };
    }
    if (source.kind === "demo") return entry; // built from the toolkit's own packages: nothing on disk to check
    return {
      ...entry,
      source: {
        ...source,
        train: mustExist(source.train, ["tasks", i, "source", "train"], "file"),
        eval: mustExist(source.eval, ["tasks", i, "source", "eval"], "file"),
      },
    };
  });

  const taskNames = tasks.map((t) => t.name);
  const seen = new Map<string, number>();
  tasks.forEach((task, i) => {
    const first = seen.get(task.name);
    if (first !== undefined) issues.push({ path: ["tasks", i], message: `task '${task.name}' is listed twice (first at tasks[${first}])`, given: describeValue(task.name) });
    else seen.set(task.name, i);
  });

  const { per_task: perTaskFile, ...training } = parsed.training;
  const perTask: PerTaskValues = {};
  for (const knob of Object.keys(PER_TASK_KNOBS) as PerTaskKnob[]) {
    const given = perTaskFile[knob];
    if (given === undefined) continue;
    const keyPath = ["training", "per_task", knob];
    if (Array.isArray(training[knob as keyof typeof training])) {
      issues.push({ path: keyPath, message: `training.${knob} is a sweep axis and is also set per task: choose one` });
    }
    if (typeof given === "string") {
      const values = readPerTaskFile(mustExist(given, keyPath, "file"), knob, keyPath, issues);
      // A file in the paper's shape lists every GLUE task; those this config does not run are unused.
      if (values) perTask[knob] = Object.fromEntries(Object.entries(values).filter(([task]) => taskNames.includes(task)));
    } else {
      for (const task of Object.keys(given)) {
        if (!taskNames.includes(task)) issues.push({ path: [...keyPath, task], message: `not a task of this config (tasks: ${taskNames.join(", ")})` });
      }
      perTask[knob] = given as Record<string, number>;
    }
  }

  if (tasks.length < 2 && (parsed.init === "osrm" || (Array.isArray(parsed.init) && parsed.init.includes("osrm")))) {
    // OSRM's subspace is orthogonal to the *other* tasks' inputs: with one task there are none.
    issues.push({ path: ["init"], message: "osrm init needs at least two tasks (its subspace avoids the other tasks' inputs)", given: describeValue(parsed.init) });
  }

  parsed.paper_results.forEach((row, i) => {
    for (const key of Object.keys(row.scores)) {
      if (!taskNames.includes(key) && key !== "average" && key !== "normalized") {
        issues.push({ path: ["paper_results", i, "scores", key], message: `not a task of this config, "average" or "normalized" (tasks: ${taskNames.join(", ")})` });
      }
    }
  });

  parsed.merge.methods.forEach((method, i) => {
    for (const key of Object.keys(method.search ?? {})) {
      if (Array.isArray((method as Record<string, unknown>)[key])) {
        issues.push({ path: ["merge", "methods", i, "search", key], message: `${key} is both a sweep list and a search grid: choose one` });
      }
    }
  });

  const { glue_dir: _folded, output, ...rest } = parsed;
  const experiment: Experiment = {
    ...rest,
    file: ctx.file,
    backbone,
    tasks,
    output: resolve(ctx.cwd, expandHome(output ?? join("runs", parsed.name))),
    training: { ...training, per_task: perTask },
  };
  return { experiment, issues };
}

function readPerTaskFile(file: string, knob: PerTaskKnob, keyPath: (string | number)[], issues: ConfigIssue[]): Record<string, number> | undefined {
  if (!existsSync(file)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    issues.push({ path: keyPath, message: `${file} is not valid JSON (${(error as Error).message})`, origin: file });
    return undefined;
  }
  const schema = z.record(z.string(), PER_TASK_KNOBS[knob]);
  const result = schema.safeParse(data);
  if (!result.success) {
    for (const issue of describeIssues(schema, result.error.issues, data)) {
      issues.push({ ...issue, path: [...keyPath, ...issue.path], origin: `in ${file}` });
    }
    return undefined;
  }
  return result.data as Record<string, number>;
}

export const configDirOf = (file: string | null, cwd: string) => (file ? dirname(file) : cwd);
