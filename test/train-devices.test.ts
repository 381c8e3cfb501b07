/**
 * Several devices per training job (training.devices): the runner routes such a job to torchrun
 * through the process runtime; a killed rank fails the job with an error that names it and leaves
 * no process behind; asking for more devices than the machine has, or a batch the devices cannot
 * share, is refused before anything runs; GPUs are handed out so side-by-side jobs never share one.
 * On this CPU machine the devices are gloo processes, the path GPUs take with nccl.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseExperiment } from "../src/config/load.ts";
import { UsageError } from "../src/errors.ts";
import { callOp } from "../src/ops/op.ts";
import { makeTestFixture } from "../src/ops/testing.ts";
import { planExperiment } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { GpuPool, RuntimeExecutor } from "../src/plan/runtime-executor.ts";
import { withReport } from "../src/report/report-job.ts";
import { DistributedWorkerError, ProcessRuntime, torchrunLauncher } from "../src/runtime/process.ts";
import { JobStore } from "../src/store/job-store.ts";
import { sharedRuntime } from "./shared-runtime.ts";

/** Pids of live processes whose environment holds NAME=VALUE for every pair given. */
function processesWith(pairs: Record<string, string>): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (/\) Z /.test(stat)) continue; // a zombie is dead already
      if (Object.entries(pairs).every(([k, v]) => environ.includes(`${k}=${v}`))) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

describe("training on several devices", () => {
  let fixture: { model: string; glue_dir: string };
  beforeAll(async () => {
    fixture = await callOp(sharedRuntime(), makeTestFixture, { out: mkdtempSync(join(tmpdir(), "osrm-devices-")), glue_tasks: ["sst2", "mrpc"], n_train: 64, n_eval: 16 });
  });

  const experiment = (output: string, training: string) =>
    parseExperiment(
      [
        "name: devices",
        `backbone: {name_or_path: ${fixture.model}, dtype: float32}`,
        `glue_dir: ${fixture.glue_dir}`,
        "tasks: [sst2, mrpc]",
        "init: gaussian",
        `training: {${training}}`,
        "merge: {methods: [task_arithmetic]}",
        `output: ${output}`,
      ].join("\n"),
    );

  it("runs a training with devices 2 under torchrun, keeping the global batch", async () => {
    const output = mkdtempSync(join(tmpdir(), "osrm-devices-run-"));
    const plan = planExperiment(experiment(output, "epochs: 1, batch_size: 8, precision: fp32, devices: 2"));
    const executor = new RuntimeExecutor({ jobs: 1, gpus: [], isolateTrain: false, bridge: sharedRuntime() });
    executor.check(plan.jobs);
    const train = plan.jobs.find((j) => j.kind === "train")!;
    // The one training is enough: its torchrun start is most of the time.
    const summary = await runPlan(plan, withReport(plan, executor), { only: [train.key] });
    expect(summary.failed.map((f) => f.error.message)).toEqual([]);
    expect(summary.ran).toEqual([train.key]);
    const store = new JobStore(output);
    // torchrun's own banner is in the job's log (the worker's stderr is appended to it).
    expect(readFileSync(store.layout.file(train.key, "log"), "utf8")).toContain("Setting OMP_NUM_THREADS environment variable for each process");
    // 64 examples in global batches of 8: 8 optimizer steps, as in one process (each rank ran 4 per batch).
    expect(store.result<{ history: { step: number }[] }>(train.key)!.history.map((h) => h.step)).toEqual([8]);
    // devices is how a job runs, not what it computes: the same jobs as with one device.
    const single = planExperiment(experiment(output, "epochs: 1, batch_size: 8, precision: fp32"));
    expect(single.jobs.map((j) => j.key)).toEqual(plan.jobs.map((j) => j.key));
  });

  it("fails the job with an error naming the rank when one rank is killed, and leaves no process behind", async () => {
    const tag = `devices-${process.pid}-${Date.now()}`;
    const runtime = new ProcessRuntime({ launcher: torchrunLauncher(2), env: { OSRM_TEST_TAG: tag, OMP_NUM_THREADS: "1" } });
    const out = mkdtempSync(join(tmpdir(), "osrm-rank-kill-"));
    let killed: number[] = [];
    const call = runtime.call(
      "train",
      {
        model: { name_or_path: fixture.model, family: "roberta", dtype: "float32" },
        task: { name: "sst2", source: { kind: "glue", task: "sst2", dir: fixture.glue_dir }, max_train: 105000, max_eval: 15000, max_length: 128 },
        training: { epochs: 50, batch_size: 8, precision: "fp32", devices: 2 },
        out,
      },
      {
        onProgress: (event) => {
          if (event.unit === "step" && killed.length === 0) {
            killed = processesWith({ OSRM_TEST_TAG: tag, RANK: "1" });
            for (const pid of killed) process.kill(pid, "SIGKILL");
          }
        },
      },
    );
    const error = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(killed).toHaveLength(1);
    expect(error).toBeInstanceOf(DistributedWorkerError);
    expect((error as Error).message).toMatch(/'train' failed under torchrun: rank 1 of 2 was killed by SIGKILL \(pid \d+/);
    console.log(`a killed rank: ${(error as Error).message.split("\n")[0]}`);
    expect(processesWith({ OSRM_TEST_TAG: tag })).toEqual([]);
    expect(existsSync(join(out, "metrics.json"))).toBe(false);
  });

  it("refuses before anything runs more devices than the machine has, or a batch they cannot share", () => {
    const plan = (training: string) => planExperiment(experiment(mkdtempSync(join(tmpdir(), "osrm-devices-check-")), training));
    const cpu = new RuntimeExecutor({ jobs: 1, gpus: [], isolateTrain: false, cpus: 2 });
    expect(() => cpu.check(plan("devices: 4").jobs)).toThrow(UsageError);
    expect(() => cpu.check(plan("devices: 4").jobs)).toThrow("training.devices 4 (train sst2 gaussian): no GPU was found, so devices are CPU processes, and this machine has 2 CPU core(s)");
    const gpu = new RuntimeExecutor({ jobs: 1, gpus: ["0", "1"], isolateTrain: false });
    expect(() => gpu.check(plan("devices: 4").jobs)).toThrow("training.devices 4 (train sst2 gaussian): this machine has 2 GPU(s) to give it (0, 1)");
    expect(() => cpu.check(plan("devices: 2, batch_size: 9").jobs)).toThrow("training.batch_size 9 (train sst2 gaussian) is not a multiple of training.devices 2");
    expect(() => cpu.check(plan("devices: 2, batch_size: 8").jobs)).not.toThrow();
  });

  it("hands out GPUs so jobs side by side never share one; a job needing several waits its turn", async () => {
    const pool = new GpuPool(["0", "1", "2"]);
    const signal = new AbortController().signal;
    const a = await pool.acquire(1, signal);
    const b = await pool.acquire(1, signal);
    let big: string[] | null = null;
    const waiting = pool.acquire(2, signal).then((ids) => (big = ids));
    let small: string[] | null = null;
    const after = pool.acquire(1, signal).then((ids) => (small = ids)); // queued behind the big one
    await new Promise((r) => setTimeout(r, 20));
    expect(big).toBeNull();
    expect(small).toBeNull();
    pool.release(a);
    await waiting;
    expect(new Set([...big!, ...b]).size).toBe(3); // disjoint
    pool.release(b);
    await after;
    expect(big!.includes(small![0]!)).toBe(false);
    const aborted = new AbortController();
    const never = pool.acquire(3, aborted.signal);
    aborted.abort();
    await expect(never).rejects.toThrow(/aborted/);
  });
});
