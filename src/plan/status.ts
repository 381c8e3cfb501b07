/**
 * Each job's state, from the run folder (done.json, locks, job folders) and, for jobs submitted
 * to Slurm, from Slurm itself: what `osrm status` shows and what `osrm run --executor slurm
 * --wait` follows.
 */
import { existsSync, readFileSync } from "node:fs";
import { JobStore } from "../store/job-store.ts";
import { JobLock, staleReason } from "../store/lock.ts";
import type { Job } from "./job.ts";
import type { Plan } from "./planner.ts";
import { isActive, readRecords, type SlurmCli, type SlurmRecord, type SlurmState } from "./slurm.ts";

export type JobState = "done" | "running" | "queued" | "failed" | "cancelled" | "interrupted" | "not started";

export interface JobStatus {
  job: Job;
  state: JobState;
  /** One line: when it finished, where it runs, why it waits or failed. */
  detail: string;
  slurm?: { id: string; state: string | null; reason: string; node: string };
  /** The last lines of the job's log and of Slurm's output file, for a failed or cancelled job. */
  tail: string[];
}

function lastLines(file: string, n: number): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n);
}

function age(iso: string | undefined): string {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? "?" : `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago`;
}

/** Every job's status; `cli` null: Slurm is not asked (jobs it ran show what the run folder knows). */
export async function jobStatuses(plan: Plan, cli: SlurmCli | null): Promise<JobStatus[]> {
  const store = new JobStore(plan.experiment.output);
  const records = readRecords(plan.experiment.output);
  const states: Map<string, SlurmState> = cli ? await cli.states([...records.values()].map((r) => r.job_id)) : new Map();
  return plan.jobs.map((job) => statusOf(job, store, records.get(job.key), states, cli !== null));
}

function statusOf(job: Job, store: JobStore, record: SlurmRecord | undefined, states: Map<string, SlurmState>, asked: boolean): JobStatus {
  const done = store.done(job.key);
  const slurmState = record ? states.get(record.job_id) : undefined;
  const slurm = record ? { id: record.job_id, state: slurmState?.state ?? null, reason: slurmState?.reason ?? "", node: slurmState?.node ?? "" } : undefined;
  if (done) return { job, state: "done", detail: `${done.seconds.toFixed(1)} s, finished ${done.finished_at}`, slurm, tail: [] };

  const lockFile = store.layout.lockFile(job.key);
  const owner = existsSync(lockFile) ? JobLock.owner(lockFile) : null;
  const held = owner !== null && staleReason(lockFile) === null;
  const holder = owner ? `${owner.host} pid ${owner.pid}, heartbeat ${age(owner.heartbeat ?? owner.since)}` : "";
  const tails = (): string[] => {
    const log = lastLines(store.layout.file(job.key, "log"), 5).map((l) => `log: ${l}`);
    const out = record ? lastLines(record.output.replace("%j", record.job_id), 5).map((l) => `slurm: ${l}`) : [];
    return [...log, ...out];
  };

  if (record) {
    const id = `slurm job ${record.job_id}`;
    if (!asked) return { job, state: held ? "running" : "queued", detail: `${id} (Slurm not asked)${held ? `; ${holder}` : ""}`, slurm, tail: [] };
    if (isActive(slurmState)) {
      const s = slurmState!;
      if (s.state === "PENDING" || s.state === "REQUEUED" || s.state === "REQUEUE_HOLD") {
        return { job, state: "queued", detail: `${id}, ${s.state.toLowerCase()}${s.reason && s.reason !== "None" ? ` (${s.reason})` : ""}`, slurm, tail: [] };
      }
      return { job, state: "running", detail: `${id} ${s.state.toLowerCase()} on ${s.node || "?"}${held ? `; ${holder}` : ""}`, slurm, tail: [] };
    }
    if (slurmState?.state === "CANCELLED" || slurmState?.reason === "DependencyNeverSatisfied") {
      const why = slurmState.reason && slurmState.reason !== "None" ? ` (${slurmState.reason})` : "";
      return { job, state: "cancelled", detail: `${id} cancelled${why}; osrm run --executor slurm resubmits it`, slurm, tail: tails() };
    }
    const what = slurmState ? slurmState.state.toLowerCase() : "no longer known to Slurm";
    return { job, state: "failed", detail: `${id} ${what} without finishing; osrm run --executor slurm resubmits it`, slurm, tail: tails() };
  }
  if (held) return { job, state: "running", detail: holder, tail: [] };
  if (existsSync(store.layout.jobDir(job.key))) {
    return { job, state: "interrupted", detail: "started, not finished; the next run resumes or redoes it", tail: lastLines(store.layout.file(job.key, "log"), 3).map((l) => `log: ${l}`) };
  }
  return { job, state: "not started", detail: "", tail: [] };
}

export function countStates(statuses: JobStatus[]): Record<JobState, number> {
  const counts: Record<JobState, number> = { done: 0, running: 0, queued: 0, failed: 0, cancelled: 0, interrupted: 0, "not started": 0 };
  for (const s of statuses) counts[s.state] += 1;
  return counts;
}

export function formatStatuses(plan: Plan, statuses: JobStatus[]): string {
  const counts = countStates(statuses);
  const parts = (Object.entries(counts) as [JobState, number][]).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`);
  const width = Math.max(...statuses.map((s) => s.job.label.length));
  const lines = [`${plan.experiment.name}: ${statuses.length} jobs: ${parts.join(", ")}`];
  for (const s of statuses) {
    lines.push(`  ${s.state.padEnd(11)} ${s.job.label.padEnd(width)}  ${s.job.key}${s.detail ? `  ${s.detail}` : ""}`);
    for (const line of s.tail) lines.push(`      | ${line}`);
  }
  return lines.join("\n");
}
