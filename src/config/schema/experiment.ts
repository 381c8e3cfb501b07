/**
 * A whole experiment as written in a YAML file. The schema is the single source of every knob and
 * of its default (the paper's setting); `ExperimentFile` is what a file holds after validation,
 * and src/config/resolve.ts turns it into the `Experiment` the planner consumes.
 */
import { z } from "zod";
import { Backbone } from "./backbone.ts";
import { Evaluation } from "./evaluation.ts";
import { Executor } from "./executor.ts";
import { Lora } from "./lora.ts";
import { Merge } from "./merge.ts";
import { Init, OsrmConfig } from "./osrm.ts";
import { PaperResult } from "./paper-results.ts";
import { TaskEntry } from "./task.ts";
import { Training } from "./training.ts";

export const ExperimentFile = z.strictObject({
  /** Names the run folder (runs/<name>) and the tables. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "a name is letters, digits, '_', '.' or '-' (it names a folder)" }),
  description: z.string().optional(),
  backbone: Backbone,
  /** Local GLUE folder (original TSV layout) for tasks given by name; null = the hub. */
  glue_dir: z.string().nullable().default(null),
  tasks: z.array(TaskEntry).min(1, { error: "list at least one task" }),
  lora: Lora.prefault({}),
  init: Init,
  osrm: OsrmConfig.prefault({}),
  training: Training.prefault({}),
  merge: Merge.prefault({}),
  evaluation: Evaluation.prefault({}),
  /** The run folder; default runs/<name> under the working directory. */
  output: z.string().min(1).optional(),
  paper_results: z.array(PaperResult).default([]),
  /** Where the jobs run (here or as Slurm jobs) and what each Slurm job asks for; never part of a job's hash. */
  executor: Executor.prefault({}),
});
export type ExperimentFile = z.infer<typeof ExperimentFile>;
