/**
 * `osrm run --executor slurm`: check, submit, and (with --wait) follow the jobs until none is
 * queued or running. Interrupting the wait leaves the jobs to Slurm.
 */
import { OsrmError, UsageError } from "../errors.ts";
import type { Plan } from "./planner.ts";
import { checkSlurm, SlurmCli, submitPlan, type SubmitSummary } from "./slurm.ts";
import { countStates, formatStatuses, jobStatuses, type JobStatus } from "./status.ts";
import { JobStore } from "../store/job-store.ts";

export interface SlurmRunOptions {
  overrides: string[];
  wait: boolean;
  pollMs: number;
  signal: AbortSignal;
  log: (line: string) => void;
  cli?: SlurmCli;
}

export interface SlurmRunResult {
  submitted: SubmitSummary;
  /** The final statuses when waited for. */
  statuses: JobStatus[] | null;
}

export async function runOnSlurm(plan: Plan, options: SlurmRunOptions): Promise<SlurmRunResult> {
  const cli = options.cli ?? new SlurmCli();
  const setting = plan.experiment.executor.slurm;
  if (plan.experiment.file === null) throw new UsageError("executor.kind slurm: the experiment must come from a config file, which every Slurm job reads");
  const store = new JobStore(plan.experiment.output);
  await checkSlurm(plan.jobs.filter((job) => !store.isDone(job.key)), setting, cli);
  const submitted = await submitPlan(plan, {
    setting,
    configFile: plan.experiment.file,
    overrides: options.overrides,
    cli,
    onSubmit: (job, record) => options.log(`submitted ${job.label} (${job.key}): slurm job ${record.job_id}${record.after.length ? ` after ${record.after.join(", ")}` : ""}`),
  });
  for (const { job, id, state } of submitted.kept) options.log(`kept      ${job.label} (${job.key}): slurm job ${id} ${state.toLowerCase()}`);
  if (submitted.cancelled.length) options.log(`cancelled slurm job(s) ${submitted.cancelled.join(", ")}: they waited for a job now resubmitted`);
  options.log(`${plan.experiment.name}: ${submitted.submitted.length} job(s) submitted, ${submitted.kept.length} still queued or running, ${submitted.alreadyDone} already done, of ${plan.jobs.length}`);
  if (!options.wait) return { submitted, statuses: null };

  let last = "";
  for (;;) {
    const statuses = await jobStatuses(plan, cli);
    const counts = countStates(statuses);
    const line = `slurm: ${counts.done} done, ${counts.running} running, ${counts.queued} queued, ${counts.failed + counts.cancelled} failed or cancelled`;
    if (line !== last) options.log(line);
    last = line;
    if (counts.running + counts.queued === 0) {
      if (counts.done < statuses.length) throw new OsrmError(formatStatuses(plan, statuses.filter((s) => s.state !== "done")));
      return { submitted, statuses };
    }
    if (options.signal.aborted) {
      options.log("stopped waiting; the jobs stay with Slurm (osrm status CONFIG shows them)");
      return { submitted, statuses };
    }
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        options.signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, options.pollMs);
      options.signal.addEventListener("abort", wake, { once: true });
    });
  }
}
