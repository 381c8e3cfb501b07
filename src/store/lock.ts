/**
 * One process at a time per job: a lock file created with O_EXCL holding the owner's pid and host.
 * A lock whose process is gone (same host, pid not alive) is stale and is taken over, so a killed
 * `osrm run` never blocks the next one. A lock from another host is respected: its process cannot
 * be checked from here. (A pid reused by an unrelated process keeps a stale lock alive until that
 * process ends; remove the file by hand in that rare case — the message names it.)
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { asStorageError, writingTo } from "../errors.ts";

export interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/** A lock file still empty after this long was left by a process that died while creating it. */
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

function isStale(path: string): boolean {
  const owner = readOwner(path);
  if (owner === null) {
    try {
      return Date.now() - statSync(path).mtimeMs > EMPTY_LOCK_GRACE_MS;
    } catch {
      return true; // gone already
    }
  }
  return owner.host === hostname() && !processAlive(owner.pid);
}

export class JobLock {
  private constructor(readonly path: string) {}

  /** The lock, or null when a live process holds it. */
  static tryAcquire(path: string): JobLock | null {
    writingTo(path, () => mkdirSync(dirname(path), { recursive: true }));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = openSync(path, "wx");
        try {
          const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
          writeSync(fd, JSON.stringify(owner));
        } catch (error) {
          // A full disk can create the file but not fill it: an empty lock would block this job
          // for everyone until its grace time ends, so it goes.
          rmSync(path, { force: true });
          throw error;
        } finally {
          closeSync(fd);
        }
        return new JobLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw asStorageError(error, path) ?? error;
        if (!isStale(path)) return null;
        rmSync(path, { force: true });
      }
    }
    return null;
  }

  static owner(path: string): LockOwner | null {
    return readOwner(path);
  }

  release(): void {
    const owner = readOwner(this.path);
    if (owner && owner.pid === process.pid && owner.host === hostname()) rmSync(this.path, { force: true });
  }
}
