/** Every CLI command, in the order `osrm --help` lists them. One file per command. */
import type { CommandRegistrar } from "./context.ts";
import { registerDoctor } from "./doctor.ts";
import { registerPython } from "./python.ts";
import { registerSetup } from "./setup.ts";

export const commands: CommandRegistrar[] = [registerSetup, registerDoctor, registerPython];
