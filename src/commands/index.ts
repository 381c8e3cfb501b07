/** Every CLI command, in the order `osrm --help` lists them. One file per command. */
import type { CommandRegistrar } from "./context.ts";
import { registerDoctor } from "./doctor.ts";
import { registerPython } from "./python.ts";
import { registerSetup } from "./setup.ts";
import { registerConfig } from "./config.ts";
import { registerPlan } from "./plan.ts";
import { registerRun } from "./run.ts";
import { registerTable } from "./table.ts";
import { registerStats } from "./stats.ts";
import { registerInit } from "./init.ts";
import { registerTransform } from "./transform.ts";
import { registerDiagnose } from "./diagnose.ts";
import { registerMerge } from "./merge.ts";
import { registerTrain } from "./train.ts";

export const commands: CommandRegistrar[] = [registerSetup, registerDoctor, registerPython, registerConfig, registerPlan, registerRun, registerTable, registerStats, registerInit, registerTransform, registerDiagnose, registerMerge, registerTrain];
