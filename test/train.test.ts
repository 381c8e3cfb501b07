import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runTrain, trainPayload, type TrainFlags } from "../src/commands/train.ts";
import { UsageError } from "../src/errors.ts";
import type { ProgressEvent } from "../src/runtime/protocol.ts";
import { callOp } from "../src/ops/op.ts";
import { makeTestFixture } from "../src/ops/testing.ts";
import { sharedRuntime } from "./shared-runtime.ts";

const flags = (extra: Partial<TrainFlags>): TrainFlags => ({
  model: "m",
  dtype: "float32",
  blocks: ["q", "v"],
  rank: 8,
  alpha: 16,
  dropout: 0,
  freeze: "none",
  init: "gaussian",
  groupByLength: true,
  out: "out",
  ...extra,
});

describe("osrm train: flags -> payload", () => {
  it("fills the schema's (the paper's) defaults and names bad combinations", () => {
    const p = trainPayload(flags({ task: "rte", glueDir: "data/glue" }));
    expect(p.training).toMatchObject({ lr: 4e-4, epochs: 10, batch_size: 64, warmup_ratio: 0.06, seed: 42, group_by_length: true });
    expect(p.training).not.toHaveProperty("per_task");
    expect(p.task).toMatchObject({ name: "rte", max_train: 105000, max_eval: 15000, max_length: 128, source: { kind: "glue", task: "rte" } });
    expect(p.init).toEqual({ kind: "gaussian" });
    expect(() => trainPayload(flags({ task: "imdb" }))).toThrow(UsageError);
    expect(() => trainPayload(flags({}))).toThrow(/no task/);
    expect(() => trainPayload(flags({ train: "a.csv", eval: "b.csv" }))).toThrow(/--text/);
    expect(() => trainPayload(flags({ task: "rte", init: "osrm" }))).toThrow(/--init-adapter/);
    expect(() => trainPayload(flags({ task: "rte", warmupRatio: 1.5 }))).toThrow(/training\.warmup_ratio/);
  });
});

describe("osrm train through the bridge", () => {
  const runtime = sharedRuntime();

  it("trains a tiny model on a tiny GLUE task, reports per-epoch metrics and writes a PEFT adapter", async () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-train-"));
    const fixture = await callOp(runtime, makeTestFixture, {
      out: dir,
      family: "roberta",
      glue_tasks: ["sst2"],
      n_train: 64,
      n_eval: 32,
    });
    const payload = trainPayload(
      flags({ model: fixture.model, task: "sst2", glueDir: fixture.glue_dir, epochs: 2, batchSize: 16, lr: 5e-3, out: join(dir, "run") }),
    );
    const events: ProgressEvent[] = [];
    const result = await runTrain(runtime, payload, { display: { update: (e) => events.push(e), log() {}, run() {}, jobEnded() {}, stop() {} }, signal: new AbortController().signal });

    expect(result.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(result.score).toBe(Math.max(...result.history.map((h) => h.score)));
    expect(result.majority_baseline.score).toBeCloseTo(0.5, 5);
    const steps = events.filter((e) => e.task === "train" && e.unit === "step");
    expect(steps.at(-1)).toMatchObject({ current: 8, total: 8 }); // 64 examples / 16 per batch x 2 epochs
    expect(steps.at(-1)?.metrics).toHaveProperty("samples_per_s");
    const onDisk = JSON.parse(readFileSync(result.metrics_file, "utf8"));
    expect(onDisk.best).toMatchObject({ epoch: result.best_epoch, score: result.score, metrics: result.metrics });
    expect(existsSync(join(result.adapter, "adapter_model.safetensors"))).toBe(true);
    expect(JSON.parse(readFileSync(join(result.adapter, "osrm_task.json"), "utf8"))).toEqual({
      task: "sst2",
      num_labels: 2,
      regression: false,
      labels: ["0", "1"],
      metric: "accuracy",
      id2label: { "0": "0", "1": "1" },
      label2id: { "0": 0, "1": 1 },
      problem_type: "single_label_classification",
      base_model: { name_or_path: fixture.model, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
    });
    // The model card names what made it: `osrm train` and its flags.
    expect(readFileSync(join(result.adapter, "README.md"), "utf8")).toMatch(/\| command \| `osrm[^`]*` \|/);
  });
});
