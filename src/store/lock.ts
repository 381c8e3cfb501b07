/**
 * One process at a time per job: a lock file created with O_EXCL holding its owner (host, pid,
 * a random token) and a heartbeat the owner rewrites every HEARTBEAT_MS while it holds the lock.
 *
 * A lock is stale, and is taken over, when
 *   - its heartbeat is older than STALE_AFTER_MS, on any host: the owner died (a killed node, a
 *     preempted Slurm job) or is frozen; run folders on a cluster's shared file system see locks
 *     from many hosts, and a host's death must not block its jobs forever;
 *   - it is from this host and its pid is not alive: taken over at once, so a killed `osrm run`
 *     never makes the next one wait;
 *   - it was written by an earlier run of this same Slurm job (same SLURM_JOB_ID, another
 *     process): Slurm runs one instance of a job at a time, so a requeued job takes over at once
 *     on whichever node it lands.
 * Breaking a stale lock is itself guarded (a `.takeover` file created with O_EXCL), so two
 * processes that both find it stale cannot both end up holding it.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { asStorageError, writingTo } from "../errors.ts";

export interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /** Rewritten every HEARTBEAT_MS while the owner runs. */
  heartbeat?: string;
  token?: string;
  /** The Slurm job the owner runs in (SLURM_JOB_ID), if any. */
  slurm_job?: string;
}

export interface LockTiming {
  heartbeatMs: number;
  staleAfterMs: number;
}

/** Heartbeats every 30 s; 5 minutes without one (10 missed) makes a lock stale. */
export const DEFAULT_TIMING: LockTiming = { heartbeatMs: 30_000, staleAfterMs: 5 * 60_000 };

/** A lock (or takeover) file still empty or unreadable after this long was left by a process that died while writing it. */
const EMPTY_LOCK_GRACE_MS = 10_000;

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
    return typeof owner.pid === "number" ? owner : null;
  } catch {
    return null;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Infinity; // gone already
  }
}

/** Why the lock at `path` may be taken over, or null while its owner is presumed alive. */
export function staleReason(path: string, timing: LockTiming = DEFAULT_TIMING): string | null {
  const owner = readOwner(path);
  if (owner === null) return ageMs(path) > EMPTY_LOCK_GRACE_MS ? "an empty or unreadable lock file" : null;
  const self = owner.host === hostname() && owner.pid === process.pid;
  if (owner.host === hostname() && !processAlive(owner.pid)) return `its process ${owner.pid} on this host is gone`;
  const job = process.env.SLURM_JOB_ID;
  if (job && owner.slurm_job === job && !self) return `it was written by an earlier run of this Slurm job (${job})`;
  const beat = Date.parse(owner.heartbeat ?? owner.since);
  const age = Number.isNaN(beat) ? ageMs(path) : Date.now() - beat;
  if (age > timing.staleAfterMs) return `its heartbeat is ${Math.round(age / 1000)} s old (${owner.host}, pid ${owner.pid})`;
  return null;
}

function writeExclusive(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw asStorageError(error, path) ?? error;
  }
  try {
    writeSync(fd, text);
  } catch (error) {
    // A full disk can create the file but not fill it: an empty lock would block this job
    // for everyone until its grace time ends, so it goes.
    rmSync(path, { force: true });
    throw asStorageError(error, path) ?? error;
  } finally {
    closeSync(fd);
  }
  return true;
}

export class JobLock {
  private timer: NodeJS.Timeout | null = null;
  /** Set when the lock was found taken over by another process (this one looked dead to it). */
  lost = false;

  private constructor(
    readonly path: string,
    private readonly owner: LockOwner,
    timing: LockTiming,
  ) {
    // unref: a heartbeat never keeps a finished process alive.
    this.timer = setInterval(() => this.beat(), timing.heartbeatMs);
    this.timer.unref();
  }

  /** The lock, or null when a live process holds it. */
  static tryAcquire(path: string, timing: LockTiming = DEFAULT_TIMING): JobLock | null {
    writingTo(path, () => mkdirSync(dirname(path), { recursive: true }));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const now = new Date().toISOString();
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: now, heartbeat: now, token: randomBytes(8).toString("hex") };
      if (process.env.SLURM_JOB_ID) owner.slurm_job = process.env.SLURM_JOB_ID;
      if (writeExclusive(path, JSON.stringify(owner))) return new JobLock(path, owner, timing);
      if (staleReason(path, timing) === null || !JobLock.breakStale(path, timing)) return null;
    }
    return null;
  }

  /** Removes a stale lock under the takeover guard; false when someone else is doing it. */
  private static breakStale(path: string, timing: LockTiming): boolean {
    const guard = `${path}.takeover`;
    if (!writeExclusive(guard, String(process.pid))) {
      if (ageMs(guard) <= EMPTY_LOCK_GRACE_MS) return false;
      rmSync(guard, { force: true }); // left by a process that died inside the takeover
      if (!writeExclusive(guard, String(process.pid))) return false;
    }
    try {
      // Checked again under the guard: another process may have taken it over meanwhile.
      if (staleReason(path, timing) === null) return false;
      rmSync(path, { force: true });
      return true;
    } finally {
      rmSync(guard, { force: true });
    }
  }

  static owner(path: string): LockOwner | null {
    return readOwner(path);
  }

  /** Rewrites the heartbeat, atomically, while the file is still this holder's. */
  private beat(): void {
    const current = readOwner(this.path);
    if (current?.token !== this.owner.token) {
      this.lost = true;
      this.stop();
      return;
    }
    const tmp = `${this.path}.beat-${process.pid}`;
    try {
      writeFileSyncSafe(tmp, JSON.stringify({ ...this.owner, heartbeat: new Date().toISOString() }));
      renameSync(tmp, this.path);
    } catch {
      rmSync(tmp, { force: true }); // a full or flaky disk: the next beat tries again
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  release(): void {
    this.stop();
    if (readOwner(this.path)?.token === this.owner.token) rmSync(this.path, { force: true });
  }
}

function writeFileSyncSafe(path: string, text: string): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
