import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseExperiment } from "../src/config/load.ts";
import { planExperiment, type Plan } from "../src/plan/planner.ts";
import { toCsv, toLatex, toMarkdown } from "../src/report/format.ts";
import { collectResults } from "../src/report/results.ts";
import { JobStore } from "../src/store/job-store.ts";

/** Finishes jobs in the store by hand with chosen scores, as the ops would leave them. */
function finishTrain(plan: Plan, store: JobStore, scores: Record<string, number>, init: string) {
  for (const job of plan.jobs.filter((j) => j.kind === "train" && j.coords.init === init)) {
    store.begin(job.key, {});
    store.finish(job.key, job.hash, Date.now(), {}, { best: { score: scores[job.coords.task!], metrics: {} } });
  }
}
function finishEvaluate(plan: Plan, store: JobStore, method: string, init: string, scores: Record<string, number>, normalized: number | null) {
  const job = plan.jobs.find((j) => j.kind === "evaluate" && j.coords.method!.name === method && j.coords.init === init)!;
  const tasks = Object.fromEntries(Object.entries(scores).map(([t, score]) => [t, { score, metrics: {} }]));
  store.begin(job.key, {});
  store.finish(job.key, job.hash, Date.now(), {}, { tasks, average: 0, normalized });
}

const CONFIG = (output: string) => `name: paper
backbone: roberta-large
tasks: [cola, rte]
merge: {methods: [task_arithmetic, ties]}
output: ${output}
paper_results:
  - {method: individual, init: osrm, scores: {cola: 64.1, rte: 86.6, average: 75.35}}
  - {method: ties, init: osrm, scores: {rte: 70.4}}
`;

describe("results table", () => {
  const output = mkdtempSync(join(tmpdir(), "osrm-report-"));
  const plan = planExperiment(parseExperiment(CONFIG(output)));
  const store = new JobStore(output);
  finishTrain(plan, store, { cola: 0.6, rte: 0.8 }, "osrm");
  finishTrain(plan, store, { cola: 0.5, rte: 0.75 }, "gaussian");
  finishEvaluate(plan, store, "ties", "osrm", { cola: 0.3, rte: 0.6 }, null);
  finishEvaluate(plan, store, "task_arithmetic", "osrm", { cola: 0.45, rte: 0.72 }, 0.8);
  const table = collectResults(plan, store);

  it("lays out individual models first, then each method under each init, with average and normalised score", () => {
    expect(table.headers).toEqual(["CoLA", "RTE"]);
    expect(table.rows.map((r) => [r.method, r.init])).toEqual([
      ["Individual", "gaussian"], ["Individual", "osrm"],
      ["Task Arithmetic", "gaussian"], ["TIES", "gaussian"], ["Task Arithmetic", "osrm"], ["TIES", "osrm"],
    ]);
    const ties = table.rows[5]!.ours;
    expect(ties.tasks).toEqual({ cola: 30, rte: 60 });
    expect(ties.average).toBeCloseTo(45);
    // merged / individual per task (30/60, 60/80), averaged.
    expect(ties.normalized).toBeCloseTo(62.5);
    // The evaluation's own normalised score wins when it reports one.
    expect(table.rows[4]!.ours.normalized).toBeCloseTo(80);
    // Unfinished evaluations are missing, not zero.
    expect(table.rows[2]!.ours).toEqual({ tasks: { cola: null, rte: null }, average: null, normalized: null });
  });

  it("puts the paper's values beside ours only where the config gives them", () => {
    expect(table.rows[1]!.paper).toEqual({ tasks: { cola: 64.1, rte: 86.6 }, average: 75.35, normalized: null });
    expect(table.rows[5]!.paper).toEqual({ tasks: { cola: null, rte: 70.4 }, average: null, normalized: null });
    expect(table.rows[0]!.paper).toBeNull();
    const md = toMarkdown(table);
    expect(md).toContain("| Individual | osrm | 60.0 (64.1) | 80.0 (86.6) | 70.0 (75.3) | 100.0 |");
    expect(md).toContain("| TIES | osrm | 30.0 | 60.0 (70.4) | 45.0 | 62.5 |");
    expect(md).toContain("| Task Arithmetic | gaussian | – | – | – | – |");
    expect(md).toContain("In parentheses: the paper's reported value.");
  });

  it("writes CSV with a paper column per value and LaTeX with a rule after the individual rows", () => {
    const csv = toCsv(table).split("\n");
    expect(csv[0]).toBe("method,init,cola,cola_paper,rte,rte_paper,avg,avg_paper,norm,norm_paper");
    expect(csv[6]).toBe("TIES,osrm,30.00,,60.00,70.4,45.00,,62.50,");
    const tex = toLatex(table).split("\n");
    expect(tex[0]).toBe("\\begin{tabular}{llrrrr}");
    expect(tex[6]).toBe("\\midrule");
    expect(tex).toContain("Individual & osrm & 60.0 {\\scriptsize (64.1)} & 80.0 {\\scriptsize (86.6)} & 70.0 {\\scriptsize (75.3)} & 100.0 \\\\");
    expect(tex).toContain("Task Arithmetic & gaussian & -- & -- & -- & -- \\\\");
  });
});
