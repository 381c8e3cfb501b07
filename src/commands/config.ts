/** `osrm config validate|show`: check a config, or print it with every default filled in. */
import type { Command } from "commander";
import { stringify } from "yaml";
import { loadExperiment } from "../config/load.ts";
import type { Experiment } from "../config/resolve.ts";
import type { CommandRegistrar } from "./context.ts";
import { collect } from "./flags.ts";

export interface ExperimentFlags {
  set: string[];
}


/** The options every command that reads an experiment takes. */
export function experimentOptions(command: Command): Command {
  return command
    .argument("<config>", "experiment YAML (e.g. configs/paper/roberta-large-qv.yaml)")
    .option("--set <key=value>", "override a config value (repeatable; the value is YAML: --set training.lr=1e-4 --set lora.blocks=[q,k,v])", collect, []);
}

export function loadFromFlags(config: string, flags: ExperimentFlags): Experiment {
  return loadExperiment(config, { overrides: flags.set });
}

function countRuns(experiment: Experiment): string {
  const n = experiment.tasks.length;
  return `${n} task${n === 1 ? "" : "s"} (${experiment.tasks.map((t) => t.name).join(", ")}), backbone ${experiment.backbone.name_or_path}, output ${experiment.output}`;
}

export const registerConfig: CommandRegistrar = (program, context) => {
  const config = program.command("config").description("check an experiment config, or show it with every default filled in");

  experimentOptions(config.command("validate").description("validate a config: every problem with its key path and line; exit 2 if any"))
    .addHelpText(
      "after",
      `
Examples:
  osrm config validate configs/paper/roberta-large-qv.yaml
  osrm config validate my.yaml --set training.lr=abc     # reports: training.lr (from --set ...): expected a number`,
    )
    .action((file: string, flags: ExperimentFlags) => {
      const experiment = loadFromFlags(file, flags);
      context().output({ valid: true, name: experiment.name, tasks: experiment.tasks.map((t) => t.name) }, () => `ok: ${experiment.name}: ${countRuns(experiment)}`);
    });

  experimentOptions(config.command("show").description("print the resolved config: defaults filled in, paths absolute, per-task files read"))
    .addHelpText(
      "after",
      `
Examples:
  osrm config show configs/paper/roberta-large-qkv.yaml            # per-task epochs and lr as read from hparams/
  osrm config show configs/paper/llama3-8b.yaml --set glue_dir=/data/glue
  osrm --json config show my.yaml | jq .result.value.training`,
    )
    .action((file: string, flags: ExperimentFlags) => {
      const experiment = loadFromFlags(file, flags);
      context().output(experiment, (value) => stringify(value, { lineWidth: 120 }).trimEnd());
    });
};
