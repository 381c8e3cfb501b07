/** What `osrm plan` shows: the jobs per kind, how many are done, and the GPU-hours still to spend. */
import { JOB_KINDS, type Job, type JobKind } from "./job.ts";
import type { Plan } from "./planner.ts";
import { FORWARD_SPEEDUP, shapeOf, trainThroughput } from "./throughput.ts";

export interface KindSummary {
  kind: JobKind;
  jobs: number;
  done: number;
  /** Estimated GPU-hours of the jobs not done; null when no estimate applies. */
  gpuHours: number | null;
  /** Jobs not done whose work could not be estimated (unknown data size or backbone shape). */
  unestimated: number;
}

export interface PlanSummary {
  name: string;
  output: string;
  kinds: KindSummary[];
  total: { jobs: number; done: number; gpuHours: number; unestimated: number };
  /** The throughput entry used, or null when the backbone's shape is unknown. */
  shape: { id: string; source: string } | null;
}

/** A job's estimated GPU-hours at the backbone's training rate (null: no estimate applies). */
export function jobHours(job: Job, samplesPerSecond: number | null): number | null {
  if (!job.work || job.work.samples === null || samplesPerSecond === null) return null;
  const rate = job.work.pass === "train" ? samplesPerSecond : samplesPerSecond * FORWARD_SPEEDUP;
  return job.work.samples / rate / 3600;
}

export function summarizePlan(plan: Plan, isDone: (key: string) => boolean): PlanSummary {
  const { experiment } = plan;
  const shape = shapeOf(experiment.backbone.name_or_path);
  const rate = shape ? trainThroughput(shape, experiment.training.gradient_checkpointing) : null;
  const kinds: KindSummary[] = [];
  for (const kind of JOB_KINDS) {
    const jobs = plan.jobs.filter((j) => j.kind === kind);
    if (jobs.length === 0) continue;
    let hours: number | null = null;
    let unestimated = 0;
    let done = 0;
    for (const job of jobs) {
      if (isDone(job.key)) {
        done += 1;
        continue;
      }
      if (!job.work) continue;
      const h = jobHours(job, rate);
      if (h === null) unestimated += 1;
      else hours = (hours ?? 0) + h;
    }
    kinds.push({ kind, jobs: jobs.length, done, gpuHours: hours, unestimated });
  }
  const total = {
    jobs: plan.jobs.length,
    done: kinds.reduce((a, k) => a + k.done, 0),
    gpuHours: kinds.reduce((a, k) => a + (k.gpuHours ?? 0), 0),
    unestimated: kinds.reduce((a, k) => a + k.unestimated, 0),
  };
  return { name: experiment.name, output: experiment.output, kinds, total, shape: shape ? { id: shape.id, source: shape.source } : null };
}

const KIND_TITLES: Record<JobKind, string> = {
  stats: "statistics",
  init: "OSRM init",
  train: "training",
  diagnose: "interference",
  merge: "merge",
  evaluate: "evaluation",
  figures: "figures",
  report: "report",
};

function hours(value: number | null): string {
  if (value === null) return "-";
  return value < 0.01 && value > 0 ? "<0.01" : value.toFixed(2);
}

export function formatPlanSummary(summary: PlanSummary, plan: Plan, verbose: boolean): string {
  const lines = [`plan ${summary.name}  ->  ${summary.output}`, ""];
  lines.push(`${"kind".padEnd(12)}${"jobs".padStart(6)}${"done".padStart(6)}${"to run".padStart(8)}${"GPU-h".padStart(9)}`);
  for (const k of summary.kinds) {
    lines.push(`${KIND_TITLES[k.kind].padEnd(12)}${String(k.jobs).padStart(6)}${String(k.done).padStart(6)}${String(k.jobs - k.done).padStart(8)}${hours(k.gpuHours).padStart(9)}`);
    if (verbose) {
      for (const job of plan.jobs.filter((j) => j.kind === k.kind)) lines.push(`    ${job.key}  ${job.label}`);
    }
  }
  const t = summary.total;
  lines.push(`${"total".padEnd(12)}${String(t.jobs).padStart(6)}${String(t.done).padStart(6)}${String(t.jobs - t.done).padStart(8)}${hours(t.gpuHours).padStart(9)}`);
  lines.push("");
  if (t.done === t.jobs) lines.push("all jobs are done.");
  if (summary.shape) {
    lines.push(
      `GPU-h is an estimate for one H200 (${summary.shape.id}: ${summary.shape.source}; forward passes at ${FORWARD_SPEEDUP}x training speed; ` +
        `128-token sequences, so shorter GLUE batches run faster). Merges are not counted.`,
    );
  } else {
    lines.push(`no GPU-hour estimate: the backbone's shape is not in src/plan/throughput.ts.`);
  }
  if (t.unestimated > 0) lines.push(`${t.unestimated} job(s) not estimated: their data size is unknown before loading (file sources).`);
  return lines.join("\n");
}
