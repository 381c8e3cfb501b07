/**
 * `osrm demo`: the main job on the embedded default — `osrm run configs/demo.yaml` on the tiny
 * pretrained model and the demo task suite, then the table and figures summarised in the terminal.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadExperiment } from "../config/load.ts";
import { commandLine } from "../plan/provenance.ts";
import { planExperiment } from "../plan/planner.ts";
import { packageRoot } from "../runtime/paths.ts";
import { JobStore } from "../store/job-store.ts";
import type { ExperimentFlags } from "./config.ts";
import type { DiagnoseResult } from "../ops/diagnose.ts";
import type { CommandRegistrar } from "./context.ts";
import { executePlan, reportFiles } from "./run.ts";
import { formatDuration } from "../ui/format.ts";
import { collect } from "./flags.ts";

export const DEMO_CONFIG = join(packageRoot, "configs", "demo.yaml");

interface DemoFlags extends ExperimentFlags {
  jobs?: string;
}



export const registerDemo: CommandRegistrar = (program, context) => {
  program
    .command("demo")
    .description("the main job on the embedded tiny model: OSRM vs Gaussian init, LoRA training, merges, table and plots (CPU, minutes)")
    .option("--set <key=value>", "override a value of configs/demo.yaml (repeatable), e.g. --set output=/tmp/demo", collect, [])
    .option("-j, --jobs <n>", "jobs side by side (each in its own Python process)")
    .addHelpText(
      "after",
      `
Runs configs/demo.yaml: statistics of the layer inputs, Gaussian and OSRM inits, a LoRA per demo
task (real labelled text built from the toolkit's npm data packages) on models/osrm-tiny-roberta,
merges (task arithmetic with its lambda searched on held-out training data, TIES, EMR),
evaluation of every merge on every task, the interference matrices, and the report.
The run folder is runs/demo (change it with --set output=DIR). Interrupt it at any time: the
next 'osrm demo' finishes what is left and redoes nothing finished.

Examples:
  osrm demo
  osrm demo --set training.epochs=2 --set output=/tmp/quick-demo`,
    )
    .action(async (flags: DemoFlags) => {
      const ctx = context();
      const started = Date.now();
      const plan = planExperiment(loadExperiment(DEMO_CONFIG, { overrides: flags.set }), { command: commandLine() });
      const summary = await executePlan(plan, ctx, { jobs: flags.jobs });
      if (!summary) return;
      const store = new JobStore(plan.experiment.output);
      const files = reportFiles(plan)!;
      const folder = dirname(files.report);
      const interference = Object.fromEntries(
        plan.jobs
          .filter((j) => j.kind === "diagnose")
          .map((j) => [j.coords.init, store.result<DiagnoseResult>(j.key)?.off_diagonal_mean ?? null]),
      );
      const seconds = (Date.now() - started) / 1000;
      const value = {
        ran: summary.ran.length,
        already_done: summary.alreadyDone,
        seconds,
        ...files,
        interference_off_diagonal_mean: interference,
      };
      ctx.output(value, () =>
        [
          readFileSync(join(folder, "table.md"), "utf8").trimEnd(),
          "",
          "Interference (mean relative output shift of an adapter on the other tasks' inputs; lower is better):",
          ...Object.entries(interference).map(([init, v]) => `  ${init.padEnd(9)} ${typeof v === "number" ? v.toFixed(4) : "–"}`),
          "",
          `${summary.ran.length} job(s) run, ${summary.alreadyDone} already done, in ${formatDuration(seconds)}`,
          `report:  ${value.report}`,
          `tables:  ${folder}/table.{md,csv,tex}   plots: ${folder}/plots/`,
        ].join("\n"),
      );
    });
};
