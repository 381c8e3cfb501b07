/**
 * Op payload pieces from command-line flags, each checked by its zod schema (so the CLI and YAML
 * configs share every default and every error message names the flag or file).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { GLUE_TASKS, GlueTaskName } from "../config/glue.ts";
import { BackboneObject } from "../config/schema/backbone.ts";
import { Block } from "../config/schema/lora.ts";
import { Task } from "../config/schema/task.ts";
import { UsageError } from "../errors.ts";
import type { ModelFlags, TaskFlags } from "./flags.ts";

export function firstIssue(what: string, error: z.ZodError): UsageError {
  const issue = error.issues[0]!;
  return new UsageError(`${what}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
}

/** Drops undefined values, so a flag that was not given takes the schema's default. */
export function given<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function modelPayload(flags: ModelFlags): z.output<typeof BackboneObject> {
  const parsed = BackboneObject.safeParse(given({ name_or_path: flags.model, family: flags.family, dtype: flags.dtype }));
  if (!parsed.success) throw firstIssue("--model", parsed.error);
  return parsed.data;
}

/** The tasks named by flags, each validated by the config's Task schema (errors name the flag or file). */
export function resolveTasks(flags: TaskFlags, required = true): Task[] {
  const tasks: Task[] = [];
  for (const name of flags.tasks ?? []) {
    const glue = GlueTaskName.safeParse(name);
    if (!glue.success) throw new UsageError(`--tasks: '${name}' is not a GLUE task (${GLUE_TASKS.join(", ")}); use --task-file for other tasks`);
    tasks.push(Task.parse({ name, source: { kind: "glue", task: name, dir: flags.glueDir ? resolve(flags.glueDir) : null } }));
  }
  for (const file of flags.taskFile ?? []) {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(file, "utf8"));
    } catch (e) {
      throw new UsageError(`--task-file ${file}: ${(e as Error).message}`);
    }
    const parsed = Task.safeParse(raw);
    if (!parsed.success) throw firstIssue(`--task-file ${file}`, parsed.error);
    tasks.push(parsed.data);
  }
  if (flags.maxLength) for (const t of tasks) t.max_length = flags.maxLength;
  const names = tasks.map((t) => t.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`task '${twice}' is given twice`);
  if (required && tasks.length === 0) throw new UsageError("no tasks: give --tasks (GLUE names, with --glue-dir for a local folder) or --task-file");
  return tasks;
}

export function checkBlocks(blocks: string[]): Block[] {
  for (const b of blocks) {
    if (!Block.safeParse(b).success) throw new UsageError(`--blocks: '${b}' is not one of ${Block.options.join(", ")}`);
  }
  return blocks as Block[];
}
