/**
 * Planning cost of large sweeps of the paper's RoBERTa-large q,v config, from the YAML: load,
 * validate, expand, hash every job, then check which are done and estimate GPU-hours.
 *   - 1,000 training runs: 8 tasks x 125 sweep points (seed 5 x lr 5 x rank 5), OSRM init;
 *   - 1,000 sweep points (seed 10 x lr 10 x rank 10), both inits: 16,000 training runs, and every
 *     merge and evaluation of each point — a stress test far beyond any real sweep.
 * Wall time depends on the machine's load; CPU time is printed beside it.
 * Run: npx tsx bench/plan.ts   (or npm run bench:plan)
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadExperiment } from "../src/config/load.ts";
import { planExperiment } from "../src/plan/planner.ts";
import { summarizePlan } from "../src/plan/summary.ts";
import { JobStore } from "../src/store/job-store.ts";

const values = (n: number, f: (i: number) => number) => `[${Array.from({ length: n }, (_, i) => f(i)).join(",")}]`;
const SWEEPS: Record<string, string[]> = {
  "1,000 training runs (125 points x 8 tasks, osrm init, the 7 default merges)": [
    "init=osrm",
    `training.seed=${values(5, (i) => i)}`,
    `training.lr=${values(5, (i) => (i + 1) * 1e-4)}`,
    `lora.rank=${values(5, (i) => 4 * (i + 1))}`,
  ],
  "1,000 sweep points, both inits, 1 merge method": [
    `training.seed=${values(10, (i) => i)}`,
    `training.lr=${values(10, (i) => (i + 1) * 1e-4)}`,
    `lora.rank=${values(10, (i) => 2 * (i + 1))}`,
    "merge.methods=[task_arithmetic]",
  ],
};

const output = mkdtempSync(join(tmpdir(), "osrm-bench-"));
for (const [name, extra] of Object.entries(SWEEPS)) {
  const overrides = [`output=${output}`, ...extra];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const experiment = loadExperiment("configs/paper/roberta-large-qv.yaml", { overrides });
  const loaded = performance.now();
  const plan = planExperiment(experiment);
  const planned = performance.now();
  const store = new JobStore(output);
  const summary = summarizePlan(plan, (key) => store.isDone(key));
  const summarised = performance.now();
  const used = process.cpuUsage(cpu);
  const counts = summary.kinds.map((k) => `${k.kind} ${k.jobs}`).join(", ");
  console.log(`${name}: ${plan.sweep.points.length} sweep points, ${plan.jobs.length} jobs (${counts})`);
  console.log(
    `  load+validate ${(loaded - started).toFixed(0)} ms, plan ${(planned - loaded).toFixed(0)} ms, ` +
      `done-check+estimate ${(summarised - planned).toFixed(0)} ms, total ${(summarised - started).toFixed(0)} ms ` +
      `(CPU ${((used.user + used.system) / 1000).toFixed(0)} ms)`,
  );
}
