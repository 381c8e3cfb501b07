/** `osrm plan CONFIG`: the jobs a config needs, which are done, and an estimate of GPU-hours. */
import { commandLine } from "../plan/provenance.ts";
import { planExperiment } from "../plan/planner.ts";
import { formatPlanSummary, summarizePlan } from "../plan/summary.ts";
import { JobStore } from "../store/job-store.ts";
import { experimentOptions, loadFromFlags, type ExperimentFlags } from "./config.ts";
import type { CommandRegistrar } from "./context.ts";

export const registerPlan: CommandRegistrar = (program, context) => {
  experimentOptions(program.command("plan"))
    .description("show the jobs a config needs (statistics, OSRM init, training, merges, evaluation, report), which are done, and estimated GPU-hours")
    .option("-v, --verbose", "list every job with its folder name")
    .addHelpText(
      "after",
      `
Planning reads only the config and the run folder: no network, no Python. Each job's folder,
<output>/jobs/<kind>-<hash>, is named by the hash of everything that determines its result, so
changing a knob re-plans only the jobs that depend on it. GPU-hours are an estimate from
src/plan/throughput.ts (samples/s per backbone on one H200).

Examples:
  osrm plan configs/paper/roberta-large-qv.yaml
  osrm plan configs/paper/roberta-large-qv.yaml --set training.seed=[1,2,3] -v
  osrm --json plan configs/paper/llama3-8b.yaml      # every job with its op and payload`,
    )
    .action((file: string, flags: ExperimentFlags & { verbose?: boolean }) => {
      const ctx = context();
      const plan = planExperiment(loadFromFlags(file, flags), { command: commandLine() });
      const store = new JobStore(plan.experiment.output);
      const summary = summarizePlan(plan, (key) => store.isDone(key));
      if (ctx.mode === "json") {
        ctx.output({
          summary,
          jobs: plan.jobs.map((job) => ({ key: job.key, kind: job.kind, op: job.op, label: job.label, inputs: job.inputs, done: store.isDone(job.key), payload: job.payload })),
        });
      } else {
        ctx.output(null, () => formatPlanSummary(summary, plan, Boolean(flags.verbose)));
      }
    });
};
