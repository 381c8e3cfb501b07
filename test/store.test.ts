import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JobLock } from "../src/store/lock.ts";
import { JobAlreadyDoneError, JobStore } from "../src/store/job-store.ts";

const fresh = () => new JobStore(mkdtempSync(join(tmpdir(), "osrm-store-")));

describe("job locks", () => {
  it("lets one holder in at a time and frees on release", () => {
    const store = fresh();
    const lock = store.tryLock("train-abc")!;
    expect(lock).not.toBeNull();
    expect(store.tryLock("train-abc")).toBeNull();
    expect(JobLock.owner(store.layout.lockFile("train-abc"))).toMatchObject({ pid: process.pid, host: hostname() });
    lock.release();
    expect(existsSync(store.layout.lockFile("train-abc"))).toBe(false);
    expect(store.tryLock("train-abc")).not.toBeNull();
  });

  it("takes over the lock of a process that died, and respects a live one", async () => {
    const store = fresh();
    const path = store.layout.lockFile("merge-1");
    mkdirSync(store.layout.locksDir, { recursive: true });
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    await new Promise((resolve) => child.once("spawn", resolve));
    writeFileSync(path, JSON.stringify({ pid: child.pid, host: hostname(), since: "" }));
    expect(store.tryLock("merge-1")).toBeNull();
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const lock = store.tryLock("merge-1");
    expect(lock).not.toBeNull();
    expect(JobLock.owner(path)!.pid).toBe(process.pid);
    // Another host's lock cannot be checked from here: it is respected.
    writeFileSync(store.layout.lockFile("merge-2"), JSON.stringify({ pid: 1, host: "elsewhere", since: "" }));
    expect(store.tryLock("merge-2")).toBeNull();
  });
});

describe("job folders", () => {
  it("clears an interrupted attempt, moves staged artifacts into out/, writes done.json last", () => {
    const store = fresh();
    const key = "train-123456789abc";
    mkdirSync(join(store.layout.jobDir(key), "out.partial"), { recursive: true });
    writeFileSync(join(store.layout.jobDir(key), "out.partial", "junk"), "from a killed run");
    const staging = store.begin(key, { key });
    expect(existsSync(join(staging, "junk"))).toBe(false);
    mkdirSync(staging);
    writeFileSync(join(staging, "adapter_model.safetensors"), "weights");
    expect(store.isDone(key)).toBe(false);
    store.finish(key, "hash", Date.now(), { adapter: staging, files: [join(staging, "adapter_model.safetensors")] }, { best: { score: 0.9 } });
    expect(store.isDone(key)).toBe(true);
    const out = store.outDir(key);
    expect(readFileSync(join(out, "adapter_model.safetensors"), "utf8")).toBe("weights");
    // Paths the op returned inside its staging folder now point into out/.
    expect(store.result(key)).toEqual({ adapter: out, files: [join(out, "adapter_model.safetensors")] });
    expect(store.metrics(key)).toEqual({ best: { score: 0.9 } });
    expect(store.done(key)).toMatchObject({ key, hash: "hash" });
    expect(JSON.parse(readFileSync(store.layout.file(key, "job"), "utf8"))).toEqual({ key });
  });

  it("never overwrites a finished job", () => {
    const store = fresh();
    store.begin("evaluate-1", {});
    store.finish("evaluate-1", "h", Date.now(), { average: 0.5 }, { average: 0.5 });
    const before = readFileSync(store.layout.file("evaluate-1", "done"), "utf8");
    expect(() => store.begin("evaluate-1", {})).toThrow(JobAlreadyDoneError);
    expect(() => store.finish("evaluate-1", "h", Date.now(), {}, undefined)).toThrow(JobAlreadyDoneError);
    expect(readFileSync(store.layout.file("evaluate-1", "done"), "utf8")).toBe(before);
    expect(store.result("evaluate-1")).toEqual({ average: 0.5 });
  });
});
