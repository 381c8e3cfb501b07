import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { collectStats } from "../src/ops/collect-stats.ts";
import { diagnose as diagnoseOp } from "../src/ops/diagnose.ts";
import { callOp } from "../src/ops/op.ts";
import { osrmInit } from "../src/ops/osrm-init.ts";
import { makeTestAdapter, makeTestFixture } from "../src/ops/testing.ts";
import { transform } from "../src/ops/transform.ts";
import { PythonError } from "../src/runtime/errors.ts";
import { sharedRuntime } from "./shared-runtime.ts";

const TASKS = ["sst2", "mrpc", "rte"] as const;

describe("OSRM ops through the bridge (tiny RoBERTa)", () => {
  const runtime = sharedRuntime();
  const dir = mkdtempSync(join(tmpdir(), "osrm-ops-"));

  it("collects statistics once, initialises every task, and diagnoses interference before and after OSRM", async () => {
    const fixture = await callOp(runtime, makeTestFixture, { out: dir, family: "roberta", glue_tasks: [...TASKS], n_train: 60, n_eval: 10 });
    const model = { name_or_path: fixture.model, family: null, dtype: "float32" as const };
    const statsPayload = (name: (typeof TASKS)[number]) => ({
      model,
      task: { name, source: { kind: "glue" as const, task: name, dir: fixture.glue_dir }, max_length: 128 },
      blocks: ["q" as const, "v" as const],
      osrm: { samples: 16, seed: 42, pooling: "masked" as const },
      max_length: 128,
      batch_size: 8,
      cache_dir: join(dir, "stats"),
    });
    const stats: Record<string, string> = {};
    for (const name of TASKS) {
      const r = await callOp(runtime, collectStats, statsPayload(name));
      expect(r).toMatchObject({ samples: 16, inputs: 2, cached: false, warnings: [] });
      expect(r.modules).toHaveLength(4);
      stats[name] = r.file;
    }
    const again = await callOp(runtime, collectStats, statsPayload("mrpc"));
    expect(again.cached).toBe(true);
    expect(again.file).toBe(stats.mrpc);

    const inits: Record<string, string> = {};
    for (const name of TASKS) {
      const r = await callOp(runtime, osrmInit, {
        task: name,
        stats: Object.fromEntries(TASKS.filter((t) => t !== name).map((t) => [t, stats[t]!])),
        lora: { rank: 4, alpha: 8, dropout: 0, blocks: ["q", "v"] },
        osrm: { variant: "covariance", samples: 16, pooling: "masked", weighting: "tokens", seed: 42 },
        out: join(dir, "init", name),
      });
      expect(r.modules).toHaveLength(4);
      expect(r.residual.max).toBeLessThan(1);
      expect(existsSync(join(r.adapter, "adapter_model.safetensors"))).toBe(true);
      expect(JSON.parse(readFileSync(join(r.adapter, "adapter_config.json"), "utf8"))).toMatchObject({ r: 4, lora_alpha: 8, task_type: "SEQ_CLS" });
      inits[name] = r.adapter;
    }

    const lora: Record<string, string> = {};
    const posthoc: Record<string, string> = {};
    for (const [i, name] of TASKS.entries()) {
      lora[name] = (await callOp(runtime, makeTestAdapter, { model: fixture.model, out: join(dir, "lora", name), task: name, seed: i })).adapter;
      const t = await callOp(runtime, transform, { model, adapter: lora[name]!, init: inits[name]!, out: join(dir, "posthoc", name) });
      expect(t.head.length).toBeGreaterThan(0);
      posthoc[name] = t.adapter;
    }
    const diagnose = (adapters: Record<string, string>, out: string) =>
      callOp(runtime, diagnoseOp, { model, adapters: TASKS.map((task) => ({ task, path: adapters[task]! })), stats, out: join(dir, out) });
    const before = await diagnose(lora, "before");
    const after = await diagnose(posthoc, "after");
    expect(before.tasks).toEqual(TASKS);
    expect(before.matrix.map((row) => row.length)).toEqual([3, 3, 3]);
    expect(readFileSync(before.image).subarray(1, 4).toString()).toBe("PNG");
    expect(readFileSync(before.table, "utf8")).toContain("| sst2 |");
    console.log(`off-diagonal output shift: before OSRM ${before.off_diagonal_mean!.toFixed(4)}, after ${after.off_diagonal_mean!.toFixed(4)}`);
    expect(after.off_diagonal_mean!).toBeLessThan(before.off_diagonal_mean!);

    const error = await runtime
      .call("osrm_init", { task: "sst2", stats, lora: { rank: 64 }, out: join(dir, "bad") })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonMessage).toMatch(/lora\.rank 64 is larger than the input dimension 32/);
  });
});
