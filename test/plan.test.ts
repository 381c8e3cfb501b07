import { describe, expect, it } from "vitest";
import { loadExperiment, parseExperiment } from "../src/config/load.ts";
import type { Job, JobKind } from "../src/plan/job.ts";
import { opNamed } from "../src/ops/index.ts";
import { checkPayload } from "../src/ops/op.ts";
import { resolvePayload } from "../src/plan/payload.ts";
import { planExperiment, type Plan } from "../src/plan/planner.ts";
import { summarizePlan } from "../src/plan/summary.ts";

const count = (plan: Plan) => {
  const counts: Partial<Record<JobKind, number>> = {};
  for (const job of plan.jobs) counts[job.kind] = (counts[job.kind] ?? 0) + 1;
  return counts;
};
const of = (plan: Plan, kind: JobKind) => plan.jobs.filter((j) => j.kind === kind);
const keys = (plan: Plan, kind: JobKind) => new Set(of(plan, kind).map((j) => j.key));
const TINY = "name: tiny\nbackbone: FacebookAI/roberta-large\ntasks: [sst2, rte, mrpc]\nmerge: {methods: [task_arithmetic, ties]}\n";
const plan = (text: string, overrides: string[] = []) => planExperiment(parseExperiment(text, { overrides }));

describe("planner", () => {
  it("plans the paper's RoBERTa-large q,v experiment: 8 statistics, 8 inits, 16 trainings, merges and evaluations", () => {
    const p = planExperiment(loadExperiment("configs/paper/roberta-large-qv.yaml"));
    expect(count(p)).toEqual({ stats: 8, init: 8, train: 16, diagnose: 2, merge: 14, evaluate: 14, figures: 1, report: 1 });
    const summary = summarizePlan(p, () => false);
    expect(summary.total).toMatchObject({ jobs: 64, done: 0 });
    // 8 tasks x 2 inits x 10 epochs over the capped GLUE training sets at 877 samples/s.
    expect(summary.kinds.find((k) => k.kind === "train")!.gpuHours).toBeCloseTo((2 * 10 * 402550) / 877 / 3600, 3);
  });

  it("orders every job after its inputs, and hashes only what determines it", () => {
    const p = plan(TINY);
    const position = new Map(p.jobs.map((j, i) => [j.key, i]));
    for (const job of p.jobs) for (const input of job.inputs) expect(position.get(input)!).toBeLessThan(position.get(job.key)!);
    for (const job of p.jobs) expect(job.key).toMatch(new RegExp(`^${job.kind}-[0-9a-f]{12}$`));
    // The same settings written differently (key order, explicit defaults, another run folder) give the same jobs.
    const same = plan("backbone: {name_or_path: FacebookAI/roberta-large}\nname: tiny\ntasks: [sst2, rte, mrpc]\nlora: {rank: 8, blocks: [q, v]}\nmerge: {methods: [task_arithmetic, {name: ties, density: 0.2}]}\noutput: elsewhere\n");
    expect(same.jobs.map((j) => j.key)).toEqual(p.jobs.map((j) => j.key));
  });

  it("re-plans only what depends on a changed knob", () => {
    const base = plan(TINY);
    const lr = plan(TINY, ["training.lr=1e-4"]);
    expect(keys(lr, "stats")).toEqual(keys(base, "stats"));
    expect(keys(lr, "init")).toEqual(keys(base, "init"));
    expect([...keys(lr, "train")].some((k) => keys(base, "train").has(k))).toBe(false);
    // The variant only matters to the init; the pooling changes the statistics file itself.
    const variant = plan(TINY, ["osrm.variant=means"]);
    expect(keys(variant, "stats")).toEqual(keys(base, "stats"));
    expect([...keys(variant, "init")].some((k) => keys(base, "init").has(k))).toBe(false);
    const pooling = plan(TINY, ["osrm.pooling=all-positions"]);
    expect([...keys(pooling, "stats")].some((k) => keys(base, "stats").has(k))).toBe(false);
    expect([...keys(pooling, "init")].some((k) => keys(base, "init").has(k))).toBe(false);
    // Gaussian training does not read OSRM settings.
    const gaussian = (p: Plan) => new Set(of(p, "train").filter((j) => j.coords.init === "gaussian").map((j) => j.key));
    expect(gaussian(pooling)).toEqual(gaussian(base));
    const ties = plan(TINY, ["merge.methods[1]={name: ties, density: 0.5}"]);
    const merges = (p: Plan, name: string) => of(p, "merge").filter((j) => j.coords.method!.name === name).map((j) => j.key);
    expect(merges(ties, "task_arithmetic")).toEqual(merges(base, "task_arithmetic"));
    expect(merges(ties, "ties").some((k) => merges(base, "ties").includes(k))).toBe(false);
  });

  it("expands sweep axes into runs", () => {
    const p = plan(TINY, ["training.seed=[1,2]", "training.lr=[1e-4,4e-4]", "lora.rank=[4,8]", "merge.methods=[{name: task_arithmetic, lambda: [0.3, 0.5, 1.0]}]"]);
    // 3 tasks x 2 inits x 8 points; OSRM inits depend on the rank, not on seed or lr; one
    // interference matrix per init and point.
    expect(count(p)).toEqual({ stats: 3, init: 6, train: 48, diagnose: 16, merge: 48, evaluate: 48, figures: 1, report: 1 });
    const train = of(p, "train").find((j) => j.label.includes("seed=2") && j.label.includes("lr=0.0001") && j.label.includes("rank=4"))!;
    expect(train.payload.training).toMatchObject({ seed: 2, lr: 1e-4 });
    expect(train.payload.lora).toMatchObject({ rank: 4 });
    const blocks = plan(TINY, ["lora.blocks=[[q,v],[q,k,v]]", "init=osrm"]);
    expect(count(blocks)).toMatchObject({ stats: 6, init: 6, train: 6 });
  });

  it("applies per-task epochs and learning rates from the paper's files", () => {
    const p = planExperiment(loadExperiment("configs/paper/roberta-large-qkv.yaml"));
    const training = (task: string) => of(p, "train").find((j) => j.coords.task === task)!.payload.training as { epochs: number; lr: number };
    expect(training("rte")).toMatchObject({ epochs: 20, lr: 2e-4 });
    expect(training("qqp")).toMatchObject({ epochs: 10, lr: 4e-4 });
  });

  it("emits the payloads of docs/ops.md for every op", () => {
    const p = plan(TINY, ["merge.methods=[{name: ties, search: {lambda: [0.5, 1.0]}}]"]);
    const first = (kind: JobKind): Job => of(p, kind).find((j) => j.kind !== "train" || j.coords.init === "osrm")!;
    const model = { name_or_path: "FacebookAI/roberta-large", revision: null, family: null, dtype: "auto" };
    const task = (name: string) => ({ name, source: { kind: "glue", task: name, dir: null }, max_train: 105000, max_eval: 15000, max_length: 128, invalid_labels: "error" });
    const osrm = { variant: "covariance", samples: 100, pooling: "masked", weighting: "tokens", seed: 42 };
    const lora = { rank: 8, alpha: 16, dropout: 0, blocks: ["q", "v"], freeze: "none" };
    const stats = of(p, "stats");
    expect(first("stats").payload).toEqual({ model, task: task("sst2"), blocks: ["q", "v"], osrm, max_length: 128, batch_size: 128, cache_dir: { $ref: "own-out" } });
    expect(first("init").payload).toEqual({
      task: "sst2",
      stats: { rte: { $ref: "result", job: stats[1]!.key, field: "file" }, mrpc: { $ref: "result", job: stats[2]!.key, field: "file" } },
      lora,
      osrm,
      out: { $ref: "own-out" },
    });
    const init = of(p, "init")[0]!;
    expect(first("train").payload).toEqual({
      model,
      task: task("sst2"),
      lora,
      training: { lr: 4e-4, epochs: 10, keep_epoch: "best", batch_size: 64, grad_accum: 1, warmup_ratio: 0.06, scheduler: "linear", weight_decay: 0, gradient_checkpointing: false, precision: "auto", seed: 42, group_by_length: true, eval_batch_size: 128, devices: 1, checkpoint_every: null },
      init: { kind: "osrm", adapter: { $ref: "out", job: init.key } },
      out: { $ref: "own-out" },
      // For the adapter's model card; not part of the job's identity (the planner was given no command line).
      provenance: { command: null, config: null, tool: expect.stringMatching(/^osrm-merge \d+\.\d+\.\d+$/) },
    });
    const merge = first("merge");
    const adapters = merge.inputs.map((key) => ({ $ref: "out", job: key }));
    expect(merge.payload).toEqual({
      model,
      adapters: ["sst2", "rte", "mrpc"].map((name, i) => ({ task: task(name), path: adapters[i] })),
      method: { name: "ties", lambda: 1, density: 0.2, trim_scope: "tensor" },
      search: { grid: { lambda: [0.5, 1.0] }, holdout: { fraction: 0.1, seed: 42 }, select: "normalized" },
      out: { $ref: "own-out" },
    });
    const evaluate = of(p, "evaluate").find((j) => j.inputs[0] === merge.key)!;
    expect(evaluate.payload).toEqual({
      model,
      merged: { $ref: "out", job: merge.key },
      tasks: ["sst2", "rte", "mrpc"].map((name, i) => ({ task: task(name), adapter: adapters[i] })),
      split: "eval",
      batch_size: 128,
      individual: Object.fromEntries(["sst2", "rte", "mrpc"].map((name, i) => [name, { $ref: "result", job: merge.inputs[i], field: "score" }])),
    });
    // Data-driven methods get the data settings; the others do not depend on them.
    const fisher = of(plan(TINY, ["merge.methods=[fisher]"]), "merge")[0]!;
    expect(fisher.payload.data).toEqual({ examples: 64, seed: 42, batch_size: 16 });
    expect(merge.payload).not.toHaveProperty("data");
    // Every payload the planner emits is one its op's contract accepts, once the runner fills the references.
    for (const job of p.jobs.filter((j) => j.kind !== "report")) {
      const filled = resolvePayload(job, { ownOut: "/runs/x/out.partial", outOf: (key) => `/runs/${key}/out`, resultOf: () => ({ file: "/s.safetensors", score: 0.5, lambda: 1, curve: [], tasks: ["a"], inputs: ["a"], matrix: [[0.1]], history: [{ epoch: 1, loss: 0.5 }] }) });
      expect(() => checkPayload(opNamed(job.op), filled), job.label).not.toThrow();
    }
  });

  it("plans no statistics or inits when no init is osrm", () => {
    expect(count(plan(TINY, ["init=gaussian"]))).toEqual({ train: 3, merge: 2, evaluate: 2, figures: 1, report: 1 });
  });

  it.each(["roberta-large-qkv", "roberta-large-q", "t5-large", "llama3-8b", "llama3.2-1b", "llama3.2-3b"])("plans configs/paper/%s.yaml offline with an estimate", (name) => {
    const p = planExperiment(loadExperiment(`configs/paper/${name}.yaml`));
    expect(count(p)).toEqual({ stats: 8, init: 8, train: 16, diagnose: 2, merge: 14, evaluate: 14, figures: 1, report: 1 });
    const summary = summarizePlan(p, () => false);
    expect(summary.shape).not.toBeNull();
    expect(summary.total.gpuHours).toBeGreaterThan(0);
  });
});
