/** `osrm run CONFIG`: executes what a config still needs, resuming where it stopped. */
import { join } from "node:path";
import { OsrmError, UsageError } from "../errors.ts";
import { commandLine } from "../plan/provenance.ts";
import { planExperiment, type Plan } from "../plan/planner.ts";
import { runPlan, type RunSummary } from "../plan/runner.ts";
import { RuntimeExecutor, visibleGpus } from "../plan/runtime-executor.ts";
import { withReport } from "../report/report-job.ts";
import { JobStore } from "../store/job-store.ts";
import { clockJobs, RunClock } from "../ui/eta.ts";
import { formatDuration } from "../ui/format.ts";
import { experimentOptions, loadFromFlags, type ExperimentFlags } from "./config.ts";
import type { CommandContext, CommandRegistrar } from "./context.ts";

interface RunFlags extends ExperimentFlags {
  jobs?: string;
  isolateTrain?: boolean;
}

export function describeOutcome(summary: RunSummary, plan: Plan): string {
  const lines = [
    `${plan.experiment.name}: ${summary.ran.length} job(s) run, ${summary.alreadyDone} already done, ${summary.failed.length} failed, ${summary.blocked.length} not started, of ${summary.total}`,
  ];
  for (const [op, message] of summary.unavailable) {
    const waiting = summary.blocked.filter((b) => b.job.op === op).length;
    lines.push(`not available yet: the Python runtime has no '${op}' op (${waiting} job(s) need it). ${message}`);
  }
  lines.push(...describeFailures(summary));
  const files = reportFiles(plan);
  if (files) lines.push(`tables: ${files.tables.md.replace(/\.md$/, "")}.{md,csv,tex}`, `report: ${files.report}`);
  return lines.join("\n");
}

/** The finished report job's table and page, or null while it is not done. */
export function reportFiles(plan: Plan): { table: string; tables: { md: string; csv: string; tex: string }; report: string } | null {
  const report = plan.jobs.find((j) => j.kind === "report");
  const store = new JobStore(plan.experiment.output);
  if (!report || !store.isDone(report.key)) return null;
  const folder = store.outDir(report.key);
  const tables = { md: join(folder, "table.md"), csv: join(folder, "table.csv"), tex: join(folder, "table.tex") };
  return { table: tables.md, tables, report: join(folder, "report.html") };
}

/**
 * Each failure, with every job it alone kept from starting listed by name under it; a job that
 * several failures blocked (it needs all of them fixed) is listed once, under all of them together.
 */
export function describeFailures(summary: RunSummary): string[] {
  const lines: string[] = [];
  const labelOf = new Map(summary.failed.map(({ job }) => [job.key, job.label]));
  const groups = new Map<string, string[]>();
  for (const { job, causes } of summary.blocked) {
    if (causes.length === 0) continue; // an unavailable op, reported above
    const group = [...causes].sort().join(" ");
    groups.set(group, [...(groups.get(group) ?? []), job.label]);
  }
  const list = (labels: string[]) => `${labels.length}: ${labels.join(", ")}`;
  for (const { job, error } of summary.failed) {
    lines.push(`failed: ${job.label} (${job.key}): ${error.message}`);
    if (summary.halted?.job.key === job.key) lines.push(`  no more jobs were started after it: every later job would hit the same`);
    const alone = groups.get(job.key);
    if (alone) lines.push(`  not started because of it (${list(alone)})`);
  }
  for (const [group, labels] of groups) {
    const causes = group.split(" ");
    if (causes.length < 2) continue;
    const order = [...labelOf.keys()];
    const names = causes.sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((key) => labelOf.get(key) ?? key); // as they failed
    lines.push(`not started because ${names.slice(0, -1).join(", ")} and ${names.at(-1)} failed (${list(labels)})`);
  }
  return lines;
}

/**
 * A run with failed jobs. Exit code 2 when every failure is bad input the user can fix (a file,
 * a folder, a row, an unwritable output folder they chose), 1 when any is not.
 */
export class RunFailedError extends OsrmError {
  override readonly exitCode: number;
  constructor(
    readonly summary: RunSummary,
    plan: Plan,
  ) {
    super(describeOutcome(summary, plan));
    const codes = summary.failed.map(({ error }) => (error instanceof OsrmError ? error.exitCode : 1));
    this.exitCode = codes.length > 0 && codes.every((code) => code === 2) ? 2 : 1;
  }
}

export interface ExecuteOptions {
  /** --jobs as given (default: the number of GPUs in CUDA_VISIBLE_DEVICES, else 1). */
  jobs?: string;
  isolateTrain?: boolean;
}

/**
 * Runs what a plan still needs, showing each job's start and end and the ops' progress. Returns
 * the summary, or null when interrupted (finished jobs are kept); throws when a job failed.
 */
export async function executePlan(plan: Plan, ctx: CommandContext, options: ExecuteOptions = {}): Promise<RunSummary | null> {
  const gpus = visibleGpus();
  const jobs = options.jobs === undefined ? Math.max(1, gpus.length) : Number(options.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs ${options.jobs}: expected a whole number >= 1`);
  const executor = withReport(plan, new RuntimeExecutor({ jobs, gpus, isolateTrain: Boolean(options.isolateTrain) }));
  // The overall line: jobs done of all, elapsed, and the remaining time once jobs have finished.
  const store = new JobStore(plan.experiment.output);
  const alreadyDone = new Set(plan.jobs.filter((j) => store.isDone(j.key)).map((j) => j.key));
  const clock = new RunClock(clockJobs(plan), alreadyDone, jobs);
  const startedAt = Date.now();
  let doneCount = alreadyDone.size;
  let failedCount = 0;
  const showRun = () => {
    const now = Date.now();
    ctx.display.run({ done: doneCount, total: plan.jobs.length, failed: failedCount, startedAt, etaSeconds: clock.etaSeconds(now), estimatedAt: now });
  };
  let summary: RunSummary;
  try {
    showRun();
    summary = await runPlan(plan, executor, {
      jobs,
      signal: ctx.signal,
      onProgress: (job, event) => ctx.display.update(event, job),
      onEvent: (event) => {
        if (event.type === "start") {
          clock.started(event.job.key, Date.now());
          ctx.display.log(`start  ${event.job.label}  (${event.job.key}${jobs > 1 ? `, worker ${event.worker}` : ""})`);
        } else if (event.type === "done") {
          clock.ended(event.job.key, event.seconds);
          doneCount += 1;
          ctx.display.jobEnded(event.job);
          ctx.display.log(`done   ${event.job.label}  ${formatDuration(event.seconds)}`);
        } else if (event.type === "failed") {
          clock.ended(event.job.key, 0, false);
          failedCount += 1;
          ctx.display.jobEnded(event.job);
          ctx.display.log(`FAILED ${event.job.label}: ${event.error.message.split("\n")[0]}`);
        } else if (event.type === "waiting") ctx.display.log(`wait   ${event.job.label}: another osrm run holds ${event.owner}`);
        else if (event.type === "blocked") clock.dropped(event.job.key);
        if (event.type !== "waiting") showRun();
      },
    });
  } finally {
    ctx.display.stop();
    await executor.close?.();
  }
  if (summary.aborted) {
    const message = "interrupted; finished jobs are kept, run the same command again to continue";
    if (ctx.mode === "json") process.stdout.write(JSON.stringify({ error: { kind: "aborted", message } }) + "\n");
    else process.stderr.write(`osrm: ${message}\n`);
    return null;
  }
  if (summary.failed.length > 0 || summary.blocked.length > 0) throw new RunFailedError(summary, plan);
  return summary;
}

export const registerRun: CommandRegistrar = (program, context) => {
  experimentOptions(program.command("run"))
    .description("run every job of a config that is not done yet, in dependency order; safe to interrupt and run again")
    .option("-j, --jobs <n>", "jobs side by side (default: the number of GPUs in CUDA_VISIBLE_DEVICES, else 1)")
    .option("--isolate-train", "run each training job in its own Python process (long runs; the bridge serves the other ops)")
    .addHelpText(
      "after",
      `
Finished jobs are never run again or overwritten; a job interrupted half-way is cleared and
redone (a training job resumes from its last finished epoch). Two 'osrm run' on the same run folder share the work: each job is locked while it runs.
With several jobs side by side every job gets its own Python process, and with several GPUs in
CUDA_VISIBLE_DEVICES each worker sees one GPU.

Examples:
  osrm run configs/paper/roberta-large-qv.yaml
  osrm run configs/paper/roberta-large-qv.yaml --set glue_dir=/data/glue --isolate-train
  CUDA_VISIBLE_DEVICES=0,1,2,3 osrm run configs/paper/llama3-8b.yaml     # 4 jobs, one per GPU
  osrm plan configs/paper/roberta-large-qv.yaml                          # what is left`,
    )
    .action(async (file: string, flags: RunFlags) => {
      const ctx = context();
      // Everything is validated and planned before any work starts.
      const plan = planExperiment(loadFromFlags(file, flags), { command: commandLine() });
      const summary = await executePlan(plan, ctx, { jobs: flags.jobs, isolateTrain: Boolean(flags.isolateTrain) });
      if (!summary) return;
      ctx.output({ ran: summary.ran.length, already_done: summary.alreadyDone, total: summary.total, ...reportFiles(plan) }, () => describeOutcome(summary, plan));
    });
};
