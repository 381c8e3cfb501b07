/** `osrm status CONFIG`: each job's state, from the run folder and, for jobs submitted to Slurm, from Slurm. */
import { planExperiment } from "../plan/planner.ts";
import { readRecords, SlurmCli } from "../plan/slurm.ts";
import { formatStatuses, jobStatuses } from "../plan/status.ts";
import { experimentOptions, loadFromFlags, type ExperimentFlags } from "./config.ts";
import type { CommandRegistrar } from "./context.ts";

export const registerStatus: CommandRegistrar = (program, context) => {
  experimentOptions(program.command("status"))
    .description("each job of a config: done, running (where), queued (the Slurm job id), failed or cancelled (with its log's last lines), not started")
    .addHelpText(
      "after",
      `
Reads the run folder (finished jobs, locks and their heartbeats) and, when jobs were submitted
with 'osrm run --executor slurm', asks Slurm (squeue) about them. A failed or cancelled Slurm job
is resubmitted by running 'osrm run --executor slurm' again; a finished job never is.

Examples:
  osrm status configs/paper/roberta-large-qv.yaml
  osrm --json status configs/paper/roberta-large-qv.yaml`,
    )
    .action(async (file: string, flags: ExperimentFlags) => {
      const ctx = context();
      const plan = planExperiment(loadFromFlags(file, flags));
      const cli = new SlurmCli();
      // Slurm is asked only about jobs that went to it, and only where it can be.
      const asked = readRecords(plan.experiment.output).size > 0 && cli.found() !== null ? cli : null;
      const statuses = await jobStatuses(plan, asked);
      ctx.output(
        statuses.map((s) => ({ key: s.job.key, label: s.job.label, state: s.state, detail: s.detail, slurm: s.slurm ?? null, tail: s.tail })),
        () => formatStatuses(plan, statuses),
      );
    });
};
