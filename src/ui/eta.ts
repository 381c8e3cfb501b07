/**
 * The run's remaining time: the planner's work estimates (src/plan/throughput.ts, in seconds on
 * its reference GPU) calibrated by how long the finished jobs of this run really took, and, for
 * jobs without an estimate (merges, inits, data of unknown size), the observed mean duration of
 * the finished jobs of their kind (else of all finished jobs). Nothing is claimed before the
 * first job of this run finishes: an uncalibrated H200 estimate says little about this machine.
 */
import type { Plan } from "../plan/planner.ts";
import { jobHours } from "../plan/summary.ts";
import { shapeOf, trainThroughput } from "../plan/throughput.ts";

export interface ClockJob {
  key: string;
  kind: string;
  /** The planner's estimate in seconds, or null when none applies. */
  estimate: number | null;
}

export class RunClock {
  private readonly jobs = new Map<string, ClockJob>();
  private readonly remaining = new Set<string>();
  private readonly running = new Map<string, number>();
  private readonly finished: { kind: string; seconds: number; estimate: number | null }[] = [];

  constructor(
    jobs: readonly ClockJob[],
    alreadyDone: ReadonlySet<string>,
    private readonly slots = 1,
  ) {
    for (const job of jobs) {
      this.jobs.set(job.key, job);
      if (!alreadyDone.has(job.key)) this.remaining.add(job.key);
    }
  }

  started(key: string, at: number): void {
    this.running.set(key, at);
  }

  /** A job of this run ended after `seconds` (failed or not: it no longer needs time). */
  ended(key: string, seconds: number, ok = true): void {
    const job = this.jobs.get(key);
    this.running.delete(key);
    this.remaining.delete(key);
    if (job && ok) this.finished.push({ kind: job.kind, seconds, estimate: job.estimate });
  }

  /** Jobs that will not run in this run (blocked by a failed input). */
  dropped(key: string): void {
    this.remaining.delete(key);
    this.running.delete(key);
  }

  /** Seconds still to go, or null before the first job of this run finished. */
  etaSeconds(now: number): number | null {
    if (this.finished.length === 0) return null;
    const mean = (values: number[]) => values.reduce((a, v) => a + v, 0) / values.length;
    const calibrated = this.finished.filter((f) => f.estimate !== null && f.estimate > 0);
    const ratio = calibrated.length ? calibrated.reduce((a, f) => a + f.seconds, 0) / calibrated.reduce((a, f) => a + f.estimate!, 0) : null;
    const overall = mean(this.finished.map((f) => f.seconds));
    let total = 0;
    for (const key of this.remaining) {
      const job = this.jobs.get(key)!;
      const ofKind = this.finished.filter((f) => f.kind === job.kind).map((f) => f.seconds);
      const expected = job.estimate !== null && ratio !== null ? job.estimate * ratio : ofKind.length ? mean(ofKind) : overall;
      const started = this.running.get(key);
      total += Math.max(0, expected - (started === undefined ? 0 : (now - started) / 1000));
    }
    return total / Math.max(1, Math.min(this.slots, this.remaining.size));
  }
}

/** The jobs of a plan with the planner's estimates in seconds (src/plan/throughput.ts). */
export function clockJobs(plan: Plan): ClockJob[] {
  const shape = shapeOf(plan.experiment.backbone.name_or_path);
  const rate = shape ? trainThroughput(shape, plan.experiment.training.gradient_checkpointing) : null;
  return plan.jobs.map((job) => {
    const hours = jobHours(job, rate);
    return { key: job.key, kind: job.kind, estimate: hours === null ? null : hours * 3600 };
  });
}
