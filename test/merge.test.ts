/**
 * `osrm merge` through the shared bridge runtime on a tiny fixture: the CLI's payload, the merge
 * op with a search and an evaluation, the evaluate op in the planner's shape, clear errors, and
 * --help listing exactly the Python registry's methods.
 */
import { execa } from "execa";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMergePayload, formatMerge } from "../src/commands/merge.ts";
import { evaluate, merge, mergeMethods } from "../src/ops/merge.ts";
import { callOp } from "../src/ops/op.ts";
import { makeTestAdapter, makeTestFixture } from "../src/ops/testing.ts";
import { UsageError } from "../src/errors.ts";
import { PythonError } from "../src/runtime/errors.ts";
import { sharedRuntime } from "./shared-runtime.ts";

describe("osrm merge", () => {
  const runtime = sharedRuntime();
  const root = mkdtempSync(join(tmpdir(), "osrm-merge-"));
  let model = "";
  let glueDir = "";
  const adapters: Record<string, string> = {};

  beforeAll(async () => {
    ({ model, glue_dir: glueDir } = await callOp(runtime, makeTestFixture, {
      out: root, family: "roberta", glue_tasks: ["sst2", "rte"], n_train: 40, n_eval: 16,
    }));
    for (const [i, task] of ["sst2", "rte"].entries()) {
      const r = await callOp(runtime, makeTestAdapter, { model, out: join(root, task), task, seed: i + 1 });
      adapters[task] = r.adapter;
    }
  });

  const flags = (extra: Record<string, unknown> = {}) => ({
    model, dtype: "float32", glueDir, adapter: [`sst2=${adapters.sst2}`, `rte=${adapters.rte}`], out: join(root, "merged"), ...extra,
  });

  it("merges with a search on held-out training data and evaluates every task with its own head", async () => {
    const payload = buildMergePayload(flags({ method: "ties", density: "0.5", search: ["lambda=0.5,1.0"], holdout: 8, evaluate: true }));
    expect(payload.method).toEqual({ name: "ties", lambda: 1, density: 0.5, trim_scope: "tensor" }); // the registry's defaults filled
    expect(payload.search).toEqual({ grid: { lambda: [0.5, 1.0] }, holdout: { count: 8, seed: 42 }, select: "normalized" });
    const result = await callOp(runtime, merge, payload);
    expect(result.tasks).toEqual(["sst2", "rte"]);
    expect(result.method).toMatchObject({ name: "ties", density: 0.5, trim_scope: "tensor" });
    expect([0.5, 1.0]).toContain(result.lambda);
    expect(existsSync(join(result.out, "merge.json"))).toBe(true);
    for (const file of Object.values(result.search!.curve)) expect(existsSync(file)).toBe(true);
    expect(readFileSync(result.search!.curve.csv, "utf8").split("\n")[0]).toBe("lambda,average,normalized,score_sst2,score_rte");
    const evaluation = result.evaluation!;
    expect(Object.keys(evaluation.tasks)).toEqual(["sst2", "rte"]);
    for (const t of Object.values(evaluation.tasks)) {
      expect(t.score).toBeGreaterThanOrEqual(0);
      expect(t.metrics).toHaveProperty("accuracy");
    }
    expect(evaluation.average).toBeCloseTo((evaluation.tasks.sst2!.score + evaluation.tasks.rte!.score) / 2, 10);
    expect(formatMerge(result)).toContain("average");
  });

  it("evaluates a merge in the planner's shape (individual scores given)", async () => {
    const merged = await callOp(runtime, merge, buildMergePayload(flags({ method: "task_arithmetic", out: join(root, "ta") })));
    const task = (name: "sst2" | "rte") => ({ name, source: { kind: "glue" as const, task: name, dir: glueDir } });
    const result = await callOp(runtime, evaluate, {
      model: { name_or_path: model, family: null, dtype: "float32" },
      merged: merged.out,
      tasks: [{ task: task("sst2"), adapter: adapters.sst2! }, { task: task("rte"), adapter: adapters.rte! }],
      split: "eval",
      batch_size: 32,
      individual: { sst2: 0.5, rte: 0.5 },
    });
    expect(Object.keys(result.tasks).sort()).toEqual(["rte", "sst2"]);
    expect(result.tasks.sst2!.normalized).toBeCloseTo(result.tasks.sst2!.score / 0.5, 10);
    expect(result.normalized).toBeCloseTo((result.tasks.sst2!.score + result.tasks.rte!.score) / 2 / 0.5, 10);
    expect(result.lambda).toBe(0.3);
  });

  it("fails clearly on bad input", async () => {
    expect(() => buildMergePayload(flags({ method: "ties", density: "2" }))).toThrow(UsageError);
    expect(() => buildMergePayload(flags({ method: "task_arithmetic", density: "0.5" }))).toThrow(/has no hyperparameter density/);
    expect(() => buildMergePayload(flags({ method: "ties", adapter: ["sst2"] }))).toThrow(/expected task=path/);
    const other = await callOp(runtime, makeTestAdapter, { model, out: join(root, "rank8"), task: "rte", rank: 8 });
    const error = await callOp(runtime, merge, buildMergePayload(flags({ method: "ties", adapter: [`sst2=${adapters.sst2}`, `rte=${other.adapter}`], out: join(root, "bad") })))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonMessage).toMatch(/'rte'.*rank 8 at module 'encoder\.layer\.0\.attention\.self\.query\.weight'/);
    expect(existsSync(join(root, "bad"))).toBe(false);
  });

  it("lists exactly the Python registry's methods in --help", async () => {
    const { methods } = await callOp(runtime, mergeMethods, {});
    const help = (await execa("node", ["bin/osrm.js", "merge", "--help"])).stdout;
    const listed = [...help.split("Methods:")[1]!.split("Example:")[0]!.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
    expect(listed).toEqual(methods.map((m) => m.name));
  });
});
