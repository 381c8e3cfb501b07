/**
 * Locks across hosts and restarts: a heartbeat keeps a lock alive, a stale heartbeat frees it on
 * any host, and a requeued Slurm job takes over the lock of its own earlier run at once.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_TIMING, JobLock, staleReason } from "../src/store/lock.ts";

const lockPath = () => join(mkdtempSync(join(tmpdir(), "osrm-lock-")), "locks", "train-1.lock");
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const savedSlurm = process.env.SLURM_JOB_ID;
afterEach(() => {
  if (savedSlurm === undefined) delete process.env.SLURM_JOB_ID;
  else process.env.SLURM_JOB_ID = savedSlurm;
});

describe("lock heartbeats", () => {
  it("records host, pid and a heartbeat that the holder refreshes while it runs", async () => {
    const path = lockPath();
    const lock = JobLock.tryAcquire(path, { heartbeatMs: 40, staleAfterMs: 60_000 })!;
    const first = JobLock.owner(path)!;
    expect(first).toMatchObject({ pid: process.pid, host: hostname() });
    await new Promise((r) => setTimeout(r, 250));
    const later = JobLock.owner(path)!;
    expect(Date.parse(later.heartbeat!)).toBeGreaterThan(Date.parse(first.heartbeat!));
    expect(later.since).toBe(first.since);
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it("treats another host's lock as stale once its heartbeat is older than the limit, and respects a fresh one", () => {
    const path = lockPath();
    JobLock.tryAcquire(path)!.release(); // creates the folder
    writeFileSync(path, JSON.stringify({ pid: 1, host: "node-17", since: ago(3_600_000), heartbeat: ago(10_000) }));
    expect(staleReason(path)).toBeNull();
    expect(JobLock.tryAcquire(path)).toBeNull();
    writeFileSync(path, JSON.stringify({ pid: 1, host: "node-17", since: ago(3_600_000), heartbeat: ago(DEFAULT_TIMING.staleAfterMs + 1000) }));
    expect(staleReason(path)).toMatch(/heartbeat is \d+ s old \(node-17, pid 1\)/);
    const lock = JobLock.tryAcquire(path)!;
    expect(lock).not.toBeNull();
    expect(JobLock.owner(path)).toMatchObject({ pid: process.pid, host: hostname() });
    lock.release();
  });

  it("takes over at once the lock of an earlier run of the same Slurm job, from any host", () => {
    const path = lockPath();
    JobLock.tryAcquire(path)!.release();
    process.env.SLURM_JOB_ID = "4242";
    writeFileSync(path, JSON.stringify({ pid: 99, host: "node-3", since: ago(1000), heartbeat: ago(1000), slurm_job: "4242" }));
    expect(staleReason(path)).toMatch(/earlier run of this Slurm job \(4242\)/);
    const lock = JobLock.tryAcquire(path)!;
    expect(JobLock.owner(path)).toMatchObject({ pid: process.pid, slurm_job: "4242" });
    lock.release();
    // Another Slurm job's fresh lock is respected.
    writeFileSync(path, JSON.stringify({ pid: 99, host: "node-3", since: ago(1000), heartbeat: ago(1000), slurm_job: "4241" }));
    expect(JobLock.tryAcquire(path)).toBeNull();
  });

  it("keeps the same-host takeover of a dead process, and a holder never removes a lock it lost", async () => {
    const path = lockPath();
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    await new Promise((resolve) => child.once("spawn", resolve));
    JobLock.tryAcquire(path)!.release();
    writeFileSync(path, JSON.stringify({ pid: child.pid, host: hostname(), since: ago(0), heartbeat: ago(0) }));
    expect(JobLock.tryAcquire(path)).toBeNull();
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const lock = JobLock.tryAcquire(path, { heartbeatMs: 30, staleAfterMs: 60_000 })!;
    expect(lock).not.toBeNull();
    // Someone judged it stale and took it over: the old holder notices and leaves theirs alone.
    writeFileSync(path, JSON.stringify({ pid: 1, host: "node-9", since: ago(0), heartbeat: ago(0), token: "theirs" }));
    await new Promise((r) => setTimeout(r, 150));
    expect(lock.lost).toBe(true);
    lock.release();
    expect(JSON.parse(readFileSync(path, "utf8")).token).toBe("theirs");
  });
});
