import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PythonError } from "../src/runtime/errors.ts";
import { sharedRuntime } from "./shared-runtime.ts";

interface Stats { file: string; samples: number; tokens: number; modules: string[]; inputs: number; cached: boolean; warnings: string[] }
interface Init { adapter: string; modules: string[]; variant: string; rank: number; residual: { mean: number; max: number } }
interface Diagnosis { matrix: number[][]; tasks: string[]; inputs: string[]; image: string; table: string; off_diagonal_mean: number; diagonal_mean: number }

const TASKS = ["sst2", "mrpc", "rte"];

describe("OSRM ops through the bridge (tiny RoBERTa)", () => {
  const runtime = sharedRuntime();
  const dir = mkdtempSync(join(tmpdir(), "osrm-ops-"));

  it("collects statistics once, initialises every task, and diagnoses interference before and after OSRM", async () => {
    const fixture = await runtime.call<{ model: string; glue_dir: string }>("make_test_fixture", { out: dir, family: "roberta", glue_tasks: TASKS, n_train: 60, n_eval: 10 });
    const model = { name_or_path: fixture.model, family: null, dtype: "float32" };
    const statsPayload = (name: string) => ({
      model,
      task: { name, source: { kind: "glue", task: name, dir: fixture.glue_dir }, max_length: 128 },
      blocks: ["q", "v"],
      osrm: { samples: 16, seed: 42, pooling: "masked" },
      max_length: 128,
      batch_size: 8,
      cache_dir: join(dir, "stats"),
    });
    const stats: Record<string, string> = {};
    for (const name of TASKS) {
      const r = await runtime.call<Stats>("collect_stats", statsPayload(name));
      expect(r).toMatchObject({ samples: 16, inputs: 2, cached: false, warnings: [] });
      expect(r.modules).toHaveLength(4);
      stats[name] = r.file;
    }
    const again = await runtime.call<Stats>("collect_stats", statsPayload("mrpc"));
    expect(again.cached).toBe(true);
    expect(again.file).toBe(stats.mrpc);

    const inits: Record<string, string> = {};
    for (const name of TASKS) {
      const r = await runtime.call<Init>("osrm_init", {
        model,
        task: name,
        stats: Object.fromEntries(TASKS.filter((t) => t !== name).map((t) => [t, stats[t]])),
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
      lora[name] = (await runtime.call<{ adapter: string }>("make_test_adapter", { model: fixture.model, out: join(dir, "lora", name), task: name, seed: i })).adapter;
      const t = await runtime.call<{ adapter: string; head: string[] }>("transform", { model, adapter: lora[name], init: inits[name], out: join(dir, "posthoc", name) });
      expect(t.head.length).toBeGreaterThan(0);
      posthoc[name] = t.adapter;
    }
    const diagnose = (adapters: Record<string, string>, out: string) =>
      runtime.call<Diagnosis>("diagnose", { model, adapters: TASKS.map((task) => ({ task, path: adapters[task] })), stats, out: join(dir, out) });
    const before = await diagnose(lora, "before");
    const after = await diagnose(posthoc, "after");
    expect(before.tasks).toEqual(TASKS);
    expect(before.matrix.map((row) => row.length)).toEqual([3, 3, 3]);
    expect(readFileSync(before.image).subarray(1, 4).toString()).toBe("PNG");
    expect(readFileSync(before.table, "utf8")).toContain("| sst2 |");
    console.log(`off-diagonal output shift: before OSRM ${before.off_diagonal_mean.toFixed(4)}, after ${after.off_diagonal_mean.toFixed(4)}`);
    expect(after.off_diagonal_mean).toBeLessThan(before.off_diagonal_mean);

    const error = await runtime
      .call("osrm_init", { task: "sst2", stats, lora: { rank: 64 }, out: join(dir, "bad") })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonMessage).toMatch(/lora\.rank 64 is larger than the input dimension 32/);
  });
});
