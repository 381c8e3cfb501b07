/** `osrm run CONFIG`: executes what a config still needs, resuming where it stopped. */
import { join } from "node:path";
import { Option } from "commander";
import { OsrmError, UsageError } from "../errors.ts";
import { commandLine } from "../plan/provenance.ts";
import { planExperiment, type Plan } from "../plan/planner.ts";
import { runPlan, type RunSummary } from "../plan/runner.ts";
import { detectGpus, RuntimeExecutor } from "../plan/runtime-executor.ts";
import { runOnSlurm } from "../plan/slurm-run.ts";
import { withReport } from "../report/report-job.ts";
import { JobStore } from "../store/job-store.ts";
import { clockJobs, RunClock } from "../ui/eta.ts";
import { formatDuration } from "../ui/format.ts";
import { experimentOptions, loadFromFlags, type ExperimentFlags } from "./config.ts";
import type { CommandContext, CommandRegistrar } from "./context.ts";

interface RunFlags extends ExperimentFlags {
  jobs?: string;
  isolateTrain?: boolean;
  executor?: "local" | "slurm";
  wait?: boolean;
  poll?: string;
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
  /** Run only these jobs (osrm run-job: one Slurm job runs one planned job). */
  only?: string[];
}

/**
 * Runs what a plan still needs, showing each job's start and end and the ops' progress. Returns
 * the summary, or null when interrupted (finished jobs are kept); throws when a job failed.
 */
export async function executePlan(plan: Plan, ctx: CommandContext, options: ExecuteOptions = {}): Promise<RunSummary | null> {
  const { gpus } = detectGpus();
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
  // Devices a training asks for, and how it splits its batch, are checked before any job starts.
  executor.check?.(plan.jobs.filter((job) => (options.only ?? [job.key]).includes(job.key) && !store.isDone(job.key)));
  let summary: RunSummary;
  try {
    showRun();
    summary = await runPlan(plan, executor, {
      jobs,
      only: options.only,
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
    .addOption(new Option("--executor <kind>", "where the jobs run: here, or each as a Slurm job (default: the config's executor.kind, local)").choices(["local", "slurm"]))
    .option("--wait", "with --executor slurm: follow the submitted jobs until none is queued or running")
    .option("--poll <seconds>", "with --wait: seconds between looks at Slurm's queue (default 10)")
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
  osrm run configs/paper/llama3-8b.yaml --set training.devices=4          # each training on 4 GPUs (DDP)
  osrm run configs/paper/roberta-large-qv.yaml --executor slurm --set executor.slurm.partition=gpu \
      --set executor.slurm.default.gpus=1 --set executor.slurm.train.time=12:00:00   # sbatch, afterok chains
  osrm status configs/paper/roberta-large-qv.yaml                        # each job: done, running, queued, failed
  osrm plan configs/paper/roberta-large-qv.yaml                          # what is left`,
    )
    .action(async (file: string, flags: RunFlags) => {
      const ctx = context();
      // Everything is validated and planned before any work starts.
      const plan = planExperiment(loadFromFlags(file, flags), { command: commandLine() });
      if ((flags.executor ?? plan.experiment.executor.kind) === "slurm") {
        const poll = flags.poll === undefined ? 10 : Number(flags.poll);
        if (!(poll > 0)) throw new UsageError(`--poll ${flags.poll}: expected a number of seconds > 0`);
        const result = await runOnSlurm(plan, { overrides: flags.set, wait: Boolean(flags.wait), pollMs: poll * 1000, signal: ctx.signal, log: (line) => ctx.display.log(line) });
        ctx.display.stop();
        const submitted = result.submitted.submitted.map(({ job, record }) => ({ key: job.key, label: job.label, slurm_job: record.job_id, after: record.after }));
        const store = new JobStore(plan.experiment.output);
        const report = plan.jobs.find((j) => j.kind === "report");
        const folder = report && store.isDone(report.key) ? store.outDir(report.key) : null;
        ctx.output({ submitted, kept: result.submitted.kept.length, already_done: result.submitted.alreadyDone, total: plan.jobs.length }, () =>
          folder ? `tables: ${folder}/table.{md,csv,tex}\nreport: ${folder}/report.html` : `follow them with: osrm status ${file}`,
        );
        return;
      }
      const summary = await executePlan(plan, ctx, { jobs: flags.jobs, isolateTrain: Boolean(flags.isolateTrain) });
      if (!summary) return;
      ctx.output({ ran: summary.ran.length, already_done: summary.alreadyDone, total: summary.total, ...reportFiles(plan) }, () => describeOutcome(summary, plan));
    });
};

/**
 * `osrm run-job CONFIG --job KEY` (hidden): runs one planned job through the same store, lock and
 * resume code as `osrm run`; what each Slurm job of `osrm run --executor slurm` executes. Its
 * inputs must be done. Training runs in a worker process of its own, so a SIGTERM (a time limit,
 * a preemption, scancel) reaches it and it checkpoints before the job ends (exit code 143).
 */
export const registerRunJob: CommandRegistrar = (program, context) => {
  experimentOptions(program.command("run-job", { hidden: true }))
    .description("run one job of a config's plan (what each Slurm job runs)")
    .requiredOption("--job <key>", "the job's key, <kind>-<hash12>")
    .action(async (file: string, flags: ExperimentFlags & { job: string }) => {
      const ctx = context();
      const plan = planExperiment(loadFromFlags(file, flags), { command: commandLine() });
      const job = plan.byKey.get(flags.job);
      if (!job) throw new UsageError(`--job ${flags.job}: no such job in the plan of ${file} (was the config changed after the job was submitted?)`);
      const store = new JobStore(plan.experiment.output);
      if (store.isDone(job.key)) {
        ctx.output({ key: job.key, done: true, ran: false }, () => `${job.label} (${job.key}) is already done`);
        return;
      }
      const summary = await executePlan(plan, ctx, { jobs: "1", isolateTrain: true, only: [job.key] });
      if (!summary) return;
      ctx.output({ key: job.key, done: true, ran: true }, () => `done ${job.label} (${job.key})`);
    });
};
