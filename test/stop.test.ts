/**
 * Stops that lose nothing: `osrm run` stopped with SIGTERM (what Slurm sends at a time limit or on
 * preemption) exits 143 and releases its locks. With the training in a worker process of its own
 * (--isolate-train, as every Slurm job runs it) the SIGTERM reaches the worker, which finishes its
 * step and writes a checkpoint there; in the bridge, Python is killed and the last periodic
 * checkpoint stays valid. Either way the next run resumes, mid-epoch.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadExperiment } from "../src/config/load.ts";
import { callOp } from "../src/ops/op.ts";
import { makeTestFixture } from "../src/ops/testing.ts";
import { planExperiment } from "../src/plan/planner.ts";
import { JobStore } from "../src/store/job-store.ts";
import { sharedRuntime } from "./shared-runtime.ts";

describe("SIGTERM to osrm run", () => {
  let config: string;
  let output: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-stop-"));
    // 600 examples in batches of 8: 75 steps, a checkpoint every 5.
    const fixture = await callOp(sharedRuntime(), makeTestFixture, { out: join(dir, "fixture"), glue_tasks: ["sst2"], hidden: 64, n_train: 600, n_eval: 16 });
    config = join(dir, "experiment.yaml");
    output = join(dir, "run");
    writeFileSync(
      config,
      [
        "name: stop",
        `backbone: {name_or_path: ${fixture.model}, dtype: float32}`,
        `glue_dir: ${fixture.glue_dir}`,
        "tasks: [sst2]",
        "init: gaussian",
        "training: {epochs: 1, batch_size: 8, precision: fp32, checkpoint_every: 5}",
        "merge: {methods: [task_arithmetic]}",
        `output: ${output}`,
        "",
      ].join("\n"),
    );
  });

  /** Starts `osrm run`, sends SIGTERM once the training wrote a mid-epoch checkpoint past `after`; its exit code and output. */
  const stopMidEpoch = async (args: string[], pointer: string, after: number) => {
    const child = spawn(process.execPath, ["bin/osrm.js", "run", config, ...args], { env: { ...process.env, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 240_000;
    for (;;) {
      const latest = existsSync(pointer) ? JSON.parse(readFileSync(pointer, "utf8")) : null;
      if (latest && latest.in_epoch !== null && latest.step > after) break;
      expect(child.exitCode, `osrm run ended before a mid-epoch checkpoint:\n${stderr}`).toBeNull();
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seen = JSON.parse(readFileSync(pointer, "utf8"));
    child.kill("SIGTERM");
    return { code: await exited, stderr, seen, stopped: JSON.parse(readFileSync(pointer, "utf8")) };
  };

  it("exits 143 with its locks released, keeps a valid checkpoint, and the rerun resumes mid-epoch", async () => {
    const plan = planExperiment(loadExperiment(config));
    const store = new JobStore(output);
    const train = plan.jobs.find((j) => j.kind === "train")!;
    const pointer = join(store.layout.file(train.key, "staging"), "checkpoints", "latest.json");
    const noLocks = () => !existsSync(store.layout.locksDir) || readdirSync(store.layout.locksDir).length === 0;

    // The bridge: Python is killed; the last periodic checkpoint is what remains, and it is whole.
    const bridge = await stopMidEpoch([], pointer, 0);
    expect(bridge.code).toBe(143);
    expect(bridge.stderr).toContain("osrm: stopping on SIGTERM");
    expect(noLocks()).toBe(true);
    expect(bridge.stopped.step % 5).toBe(0);
    const folder = join(store.layout.file(train.key, "staging"), "checkpoints", bridge.stopped.dir);
    expect(readdirSync(folder).sort()).toEqual(["best.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json", "trainable.safetensors"]);

    // A worker process: the SIGTERM reaches it, and it checkpoints at the step it is in.
    const worker = await stopMidEpoch(["--isolate-train"], pointer, bridge.stopped.step);
    expect(worker.code).toBe(143);
    expect(noLocks()).toBe(true);
    expect(readFileSync(store.layout.file(train.key, "log"), "utf8")).toContain("SIGTERM received; finishing this optimizer step and writing a checkpoint");
    expect(worker.stopped.step).toBeGreaterThanOrEqual(worker.seen.step);
    expect(worker.stopped.in_epoch).toBe(worker.stopped.step);

    const rerun = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["bin/osrm.js", "run", config], { env: { ...process.env, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("exit", (code) => resolve({ code, stderr }));
    });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(`resuming in epoch 1 of 1 after optimizer step ${worker.stopped.step}`);
    expect(plan.jobs.every((j) => store.isDone(j.key))).toBe(true);
  });
});
