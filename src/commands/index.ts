/** Every CLI command, in the order `osrm --help` lists them. One file per command. */
import type { CommandRegistrar } from "./context.ts";
import { registerConfig } from "./config.ts";
import { registerDemo } from "./demo.ts";
import { registerDiagnose } from "./diagnose.ts";
import { registerDoctor } from "./doctor.ts";
import { registerExport } from "./export.ts";
import { registerInit } from "./init.ts";
import { registerMerge } from "./merge.ts";
import { registerPlan } from "./plan.ts";
import { registerPython } from "./python.ts";
import { registerRun, registerRunJob } from "./run.ts";
import { registerSetup } from "./setup.ts";
import { registerStats } from "./stats.ts";
import { registerStatus } from "./status.ts";
import { registerTable } from "./table.ts";
import { registerTrain } from "./train.ts";
import { registerTransform } from "./transform.ts";

export const commands: CommandRegistrar[] = [
  // the main job, then the experiment workflow, then each step alone, then the runtime
  registerDemo,
  registerRun,
  registerRunJob,
  registerStatus,
  registerPlan,
  registerTable,
  registerConfig,
  registerStats,
  registerInit,
  registerTrain,
  registerMerge,
  registerTransform,
  registerDiagnose,
  registerExport,
  registerSetup,
  registerDoctor,
  registerPython,
];
