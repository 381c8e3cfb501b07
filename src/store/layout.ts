/**
 * Where a run keeps its jobs:
 *
 *   <output>/jobs/<kind>-<hash12>/   one folder per job
 *       job.json      the job as planned: identity (what was hashed), inputs, payload as sent
 *       log           progress events and messages, one per line
 *       out/          the op's artifacts (written as out.partial/, renamed when the op succeeds)
 *       result.json   what the op returned (paths point into out/)
 *       metrics.json  scores, for train and evaluate jobs
 *       done.json     written last: the job is finished and is never touched again
 *   <output>/locks/<key>.lock        held while a process runs the job
 */
import { join } from "node:path";

export const JOB_FILES = {
  job: "job.json",
  log: "log",
  out: "out",
  staging: "out.partial",
  result: "result.json",
  metrics: "metrics.json",
  done: "done.json",
} as const;

export class RunLayout {
  constructor(readonly root: string) {}

  get jobsDir(): string {
    return join(this.root, "jobs");
  }
  get locksDir(): string {
    return join(this.root, "locks");
  }
  jobDir(key: string): string {
    return join(this.jobsDir, key);
  }
  file(key: string, name: keyof typeof JOB_FILES): string {
    return join(this.jobDir(key), JOB_FILES[name]);
  }
  lockFile(key: string): string {
    return join(this.locksDir, `${key}.lock`);
  }
}
