/**
 * The run store: a job's folder from start to done. A job is finished exactly when its done.json
 * exists; anything else in its folder is the leftover of an interrupted attempt and is cleared
 * before the job runs again. A finished job is never written to again.
 *
 * A run folder may be moved or copied: results hold the absolute paths the op returned (as
 * information), done.json records the run folder they were written under, and every result is
 * read re-rooted to where the run folder is now, so dependents find their inputs' files.
 *
 * A write the file system refuses (disk full, read-only) is a StorageError naming the path; it
 * happens before done.json, so the job stays unfinished and every finished job stays as it was.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writingTo } from "../errors.ts";
import { writeFileAtomic } from "./atomic.ts";
import { JobLock } from "./lock.ts";
import { JOB_FILES, RunLayout } from "./layout.ts";

export interface DoneRecord {
  key: string;
  hash: string;
  finished_at: string;
  seconds: number;
  /** The run folder when the job finished (absent in runs made before it was recorded). */
  root?: string;
}

export class JobAlreadyDoneError extends Error {
  constructor(readonly key: string) {
    super(`job ${key} is already done; a finished job is never overwritten`);
  }
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

const json = (value: unknown) => JSON.stringify(value, null, 2) + "\n";

export class JobStore {
  readonly layout: RunLayout;
  constructor(root: string) {
    this.layout = new RunLayout(root);
  }

  isDone(key: string): boolean {
    return existsSync(this.layout.file(key, "done"));
  }
  done(key: string): DoneRecord | null {
    return readJson<DoneRecord>(this.layout.file(key, "done"));
  }
  /** What the op returned, its paths under the run folder re-rooted to where the folder is now. */
  result<T = unknown>(key: string): T | null {
    return this.reRooted(key, readJson<T>(this.layout.file(key, "result")));
  }
  metrics<T = unknown>(key: string): T | null {
    return this.reRooted(key, readJson<T>(this.layout.file(key, "metrics")));
  }

  private reRooted<T>(key: string, value: T | null): T | null {
    if (value === null) return null;
    const root = this.done(key)?.root;
    return root && root !== this.layout.root ? (relocate(value, root, this.layout.root) as T) : value;
  }
  outDir(key: string): string {
    return this.layout.file(key, "out");
  }

  tryLock(key: string): JobLock | null {
    return JobLock.tryAcquire(this.layout.lockFile(key));
  }

  /**
   * Starts an attempt (the caller holds the job's lock): clears what an interrupted attempt left,
   * records the job and returns the staging folder the op writes its artifacts into.
   * `keepStaging` keeps an interrupted attempt's staging folder for ops that resume from their
   * own checkpoints there.
   */
  begin(key: string, record: unknown, options: { keepStaging?: boolean } = {}): string {
    if (this.isDone(key)) throw new JobAlreadyDoneError(key);
    const dir = this.layout.jobDir(key);
    const staging = this.layout.file(key, "staging");
    writingTo(dir, () => {
      if (options.keepStaging && existsSync(staging)) {
        for (const name of readdirSync(dir)) if (name !== JOB_FILES.staging) rmSync(join(dir, name), { recursive: true, force: true });
      } else {
        rmSync(dir, { recursive: true, force: true });
      }
      mkdirSync(dir, { recursive: true });
    });
    writeFileAtomic(this.layout.file(key, "job"), json(record));
    return staging;
  }

  log(key: string, line: string): void {
    const file = this.layout.file(key, "log");
    writingTo(file, () => appendFileSync(file, line.endsWith("\n") ? line : line + "\n"));
  }

  /**
   * Finishes an attempt: the staged artifacts move to out/ in one rename, the result and metrics
   * are written, and done.json last — a crash at any point before it leaves an unfinished job.
   */
  finish(key: string, hash: string, startedAt: number, result: unknown, metrics: unknown | undefined): void {
    if (this.isDone(key)) throw new JobAlreadyDoneError(key);
    const staging = this.layout.file(key, "staging");
    const out = this.layout.file(key, "out");
    if (existsSync(staging)) writingTo(out, () => renameSync(staging, out));
    writeFileAtomic(this.layout.file(key, "result"), json(relocate(result, staging, out)));
    if (metrics !== undefined) writeFileAtomic(this.layout.file(key, "metrics"), json(relocate(metrics, staging, out)));
    const done: DoneRecord = { key, hash, finished_at: new Date().toISOString(), seconds: (Date.now() - startedAt) / 1000, root: this.layout.root };
    writeFileAtomic(this.layout.file(key, "done"), json(done));
  }

  /** The op's own metrics file in its artifacts (train writes out/metrics.json), if any. */
  stagedFile<T>(key: string, name: string): T | null {
    return readJson<T>(`${this.layout.file(key, "staging")}/${name}`);
  }
}

/** Every path under `from` (a string equal to it or below it) moved to `to`: staging -> out/, old run folder -> new. */
function relocate(value: unknown, from: string, to: string): unknown {
  if (typeof value === "string") return value === from || value.startsWith(from + "/") ? to + value.slice(from.length) : value;
  if (Array.isArray(value)) return value.map((v) => relocate(v, from, to));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relocate(v, from, to)]));
  }
  return value;
}

