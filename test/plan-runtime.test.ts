/**
 * The planner's payloads against the real Python ops: a tiny model and GLUE-format folders made by
 * the runtime, two tasks, both inits, a TIES merge with a lambda search — every op of the graph runs for real through the
 * shared bridge, and the table is read from what they wrote. Then everything moves (model, data,
 * run folder): every job is still done, and the jobs run again at the new place find their inputs.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseExperiment } from "../src/config/load.ts";
import { planExperiment } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { withReport } from "../src/report/report-job.ts";
import { RuntimeExecutor } from "../src/plan/runtime-executor.ts";
import { collectResults } from "../src/report/results.ts";
import { JobStore } from "../src/store/job-store.ts";
import { callOp } from "../src/ops/op.ts";
import { makeTestFixture } from "../src/ops/testing.ts";
import { checkPage, chromiumMissing } from "./browser.ts";
import { sharedRuntime } from "./shared-runtime.ts";

describe("a plan on the real runtime", () => {
  it("runs statistics, OSRM init, training, merges and evaluation end to end", async () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-e2e-"));
    const runtime = sharedRuntime();
    const fixture = await callOp(runtime, makeTestFixture, {
      out: join(dir, "fixture"),
      glue_tasks: ["sst2", "mrpc"],
      n_train: 32,
      n_eval: 24,
    });
    const config = (root: string) =>
      parseExperiment(
        [
          "name: e2e",
          `backbone: {name_or_path: ${fixture.model.replace(dir, root)}, dtype: float32}`,
          `glue_dir: ${fixture.glue_dir.replace(dir, root)}`,
          "tasks: [sst2, mrpc]",
          "osrm: {samples: 16}",
          "training: {epochs: 1, batch_size: 16, precision: fp32}",
          "merge: {methods: [{name: ties, search: {lambda: [0.5, 1.0]}}]}",
          "evaluation: {lambdas: [0.5, 1.5]}",
          `output: ${join(root, "run")}`,
        ].join("\n"),
      );
    const experiment = config(dir);
    const plan = planExperiment(experiment);
    const summary = await runPlan(plan, withReport(plan, new RuntimeExecutor({ jobs: 1, gpus: [], isolateTrain: false, bridge: runtime })));
    expect(summary.failed.map((f) => `${f.job.label}: ${f.error.message}`)).toEqual([]);
    expect(summary.blocked).toEqual([]);
    expect(summary.ran).toHaveLength(plan.jobs.length);

    const store = new JobStore(experiment.output);
    const table = collectResults(plan, store);
    expect(table.rows.map((r) => `${r.methodName}/${r.init}`)).toEqual([
      "baseline/–", "individual/gaussian", "individual/osrm", "ties/gaussian", "ties/osrm",
    ]);
    // The trivial baseline: the majority class of each (balanced) fixture task scores 50% or so.
    for (const task of ["sst2", "mrpc"]) expect(table.rows[0]!.ours.tasks[task]!).toBeLessThan(70);
    for (const row of table.rows) {
      for (const task of ["sst2", "mrpc"]) expect(row.ours.tasks[task], `${row.method} ${row.init} ${task}`).toEqual(expect.any(Number));
      expect(row.ours.average).toEqual(expect.any(Number));
    }
    // Results name their artifacts where they ended up, not in the staging folder.
    const train = plan.jobs.find((j) => j.kind === "train")!;
    expect(store.result<{ adapter: string }>(train.key)!.adapter).toBe(store.outDir(train.key));

    // The report page holds the tables and the figures that compare the inits: the robustness
    // curve of each merge method (both inits on one axis), the interference matrices on one
    // colour scale, the training losses — inlined, with PNG, SVG and PDF copies under plots/.
    const report = plan.jobs.find((j) => j.kind === "report")!;
    const page = join(store.outDir(report.key), "report.html");
    const html = readFileSync(page, "utf8");
    expect(html).toContain('<table id="results">');
    expect(html).toContain('<table id="robustness">');
    expect(html).toContain('<table id="paired">');
    expect(html.match(/<img /g)).toHaveLength(3);
    expect(html).toContain("Robustness to lambda: TIES search(lambda)");
    expect(html).toContain("Interference, every init on one colour scale");
    expect(html).toContain("Provenance");
    const figures = store.result<{ figures: string[] }>(report.key)!.figures;
    expect(figures).toHaveLength(9);
    for (const file of figures) expect(existsSync(file), file).toBe(true);
    expect(figures.filter((f) => f.endsWith(".svg"))).toHaveLength(3);
    // The robustness view: one point per lambda of the grid, 1 included, on the reported split.
    const robustness = table.robustness.find((r) => r.init === "osrm")!;
    expect(robustness.gridMean.mean).toEqual(expect.any(Number));
    expect(robustness.gridWorst.mean!).toBeLessThanOrEqual(robustness.gridMean.mean!);
    expect(table.grid).toEqual([0.5, 1, 1.5]);
    expect([0.5, 1.0]).toContain(robustness.lambdas[0]);
    expect(robustness.atEdge).toBe(true); // a grid of two values: the choice is always at an edge

    // ...as a browser shows it: no console errors, every image decodes, the tables' rows.
    const missing = chromiumMissing();
    if (missing) console.log(missing);
    else {
      const check = await checkPage(page, ["results", "robustness", "paired"]);
      expect(check.errors).toEqual([]);
      expect(check.images.map((i) => i.decoded && i.width > 100)).toEqual([true, true, true]);
      expect(check.rows).toEqual({ results: 5, robustness: 2, paired: 4 });
      console.log(`report page in Chromium: ${check.images.length} images decoded, rows ${JSON.stringify(check.rows)}, console errors ${check.errors.length}`);
    }
    const diagnose = plan.jobs.filter((j) => j.kind === "diagnose");
    expect(diagnose.map((j) => j.coords.init)).toEqual(["gaussian", "osrm"]);
    const matrix = store.result<{ matrix: number[][] }>(diagnose[0]!.key)!.matrix;
    expect(matrix).toHaveLength(2);
    expect(matrix.flat().every((v) => Number.isFinite(v) && v >= 0)).toBe(true);

    // Move it all: the model, the GLUE folder and the run folder. Nothing is left at the old place.
    const moved = mkdtempSync(join(tmpdir(), "osrm-e2e-moved-"));
    rmSync(moved, { recursive: true });
    renameSync(dir, moved);
    const again = planExperiment(config(moved));
    expect(again.jobs.map((j) => j.key)).toEqual(plan.jobs.map((j) => j.key));
    const movedStore = new JobStore(again.experiment.output);
    expect(again.jobs.filter((j) => !movedStore.isDone(j.key))).toEqual([]);
    // Results are read where the run folder is now.
    expect(movedStore.result<{ adapter: string }>(train.key)!.adapter).toBe(movedStore.outDir(train.key));
    // The OSRM side again, at the new place, from the finished statistics and Gaussian adapters:
    // init reads the statistics files named in their results, merges check the adapters' base by
    // its content digest (their recorded path is gone), evaluation builds on the moved base.
    const redo = again.jobs.filter((j) => ["init", "diagnose", "merge", "evaluate", "figures", "report"].includes(j.kind) || (j.kind === "train" && j.coords.init === "osrm"));
    for (const job of redo) rmSync(movedStore.layout.jobDir(job.key), { recursive: true });
    const rerun = await runPlan(again, withReport(again, new RuntimeExecutor({ jobs: 1, gpus: [], isolateTrain: false, bridge: runtime })));
    expect(rerun.failed.map((f) => `${f.job.label}: ${f.error.message}`)).toEqual([]);
    expect(rerun.ran.sort()).toEqual(redo.map((j) => j.key).sort());
    const after = collectResults(again, movedStore).rows;
    expect(after.map((r) => `${r.methodName}/${r.init}`)).toEqual(table.rows.map((r) => `${r.methodName}/${r.init}`));
    for (const row of after) expect(row.ours.average, `${row.method} ${row.init}`).toEqual(expect.any(Number));
    expect(after[0]!.ours).toEqual(table.rows[0]!.ours); // the Gaussian adapters were not run again
  });
});
