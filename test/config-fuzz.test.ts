/**
 * Config fuzzing: 200 configs, each a valid base config broken in 1-3 ways (wrong types, unknown
 * keys, missing required keys, paths that do not exist, values out of range, unknown names).
 * Every one must be rejected with a ConfigError (never a crash or another error), and every
 * problem it reports must name a key path.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, formatKeyPath, type KeyPath } from "../src/config/errors.ts";
import { parseExperiment } from "../src/config/load.ts";

const dir = mkdtempSync(join(tmpdir(), "osrm-fuzz-"));
mkdirSync(join(dir, "glue"));
writeFileSync(join(dir, "train.csv"), "text,label\na,pos\n");
writeFileSync(join(dir, "dev.csv"), "text,label\nb,neg\n");
writeFileSync(join(dir, "epochs.json"), JSON.stringify({ sst2: 3, mine: 2, rte2: 4 }));

const BASE = {
  name: "fuzz",
  description: "base config of the fuzz test",
  backbone: { name_or_path: "FacebookAI/roberta-large", family: "roberta", dtype: "bfloat16" },
  glue_dir: "glue",
  tasks: [
    "sst2",
    { name: "mine", source: { kind: "files", train: "train.csv", eval: "dev.csv", format: "csv", text: ["text"], label: "label", labels: ["neg", "pos"], regression: false, metric: "accuracy" }, max_train: 1000 },
    { name: "rte2", source: { kind: "glue", task: "rte", dir: "glue" }, max_length: 64 },
  ],
  lora: { rank: [4, 8], alpha: 16, dropout: 0.1, blocks: ["q", "v"], freeze: "none" },
  init: ["gaussian", "osrm"],
  osrm: { variant: "covariance", samples: 50, pooling: "masked", weighting: "tokens", seed: 1 },
  training: {
    lr: 4e-4,
    epochs: 3,
    batch_size: 16,
    grad_accum: 2,
    warmup_ratio: 0.06,
    scheduler: "linear",
    weight_decay: 0,
    gradient_checkpointing: false,
    precision: "bf16",
    seed: [1, 2],
    group_by_length: true,
    eval_batch_size: 64,
    per_task: { epochs: "epochs.json", batch_size: { sst2: 32 } },
  },
  merge: {
    methods: ["task_arithmetic", { name: "ties", density: [0.2, 0.5], lambda: 1, trim_scope: "global" }, { name: "dare_ta", drop_rate: 0.3, search: { lambda: [0.1, 0.5, 1] } }],
    holdout: { fraction: 0.2, seed: 3 },
    select: "average",
    data: { examples: 32, seed: 1, batch_size: 8 },
  },
  evaluation: { split: "eval" },
  output: join(dir, "runs"),
  paper_results: [{ method: "ties", init: "osrm", scores: { sst2: 90.1, average: 80 }, source: "Table 1" }],
};

/** Small deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Node = Record<string | number, unknown>;
const clone = <T>(value: T): T => structuredClone(value);

function walk(value: unknown, path: KeyPath, visit: (path: KeyPath, value: unknown) => void): void {
  visit(path, value);
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k], visit);
  }
}
function parentOf(root: unknown, path: KeyPath): Node {
  let node = root as Node;
  for (const segment of path.slice(0, -1)) node = node[segment] as Node;
  return node;
}
const set = (root: unknown, path: KeyPath, value: unknown) => void (parentOf(root, path)[path.at(-1)!] = value);

const LEAVES: KeyPath[] = [];
const MAPPINGS: KeyPath[] = [];
walk(BASE, [], (path, value) => {
  if (value !== null && typeof value === "object") {
    if (!Array.isArray(value)) MAPPINGS.push(path);
  } else LEAVES.push(path);
});

const WRONG_TYPES: Record<string, unknown[]> = {
  number: ["abc", true, { nested: 1 }],
  string: [true, { nested: 1 }, [[1, 2]]],
  boolean: ["yes", 3, { nested: 1 }],
  object: [42, true],
};
const REQUIRED: KeyPath[] = [
  ["name"], ["backbone"], ["tasks"], ["backbone", "name_or_path"], ["tasks", 1, "name"], ["tasks", 1, "source"],
  ["tasks", 1, "source", "kind"], ["tasks", 1, "source", "train"], ["tasks", 1, "source", "eval"], ["tasks", 1, "source", "text"],
  ["tasks", 1, "source", "label"], ["tasks", 2, "source", "task"], ["merge", "methods", 1, "name"],
  ["paper_results", 0, "method"], ["paper_results", 0, "init"], ["paper_results", 0, "scores"],
];
const BAD_PATHS: [KeyPath, string][] = [
  [["glue_dir"], "no-such-glue"], [["tasks", 2, "source", "dir"], "/no/such/dir"], [["tasks", 1, "source", "train"], "missing.csv"],
  [["tasks", 1, "source", "eval"], "../nowhere/dev.csv"], [["training", "per_task", "epochs"], "no-epochs.json"],
  [["backbone", "name_or_path"], "./no-model-here"], [["glue_dir"], "train.csv"],
];
const OUT_OF_RANGE: [KeyPath, unknown][] = [
  [["lora", "rank"], 0], [["lora", "rank"], [4, -8]], [["lora", "dropout"], 1], [["lora", "alpha"], -16], [["training", "warmup_ratio"], 1.5],
  [["training", "epochs"], 2.5], [["training", "batch_size"], 0], [["training", "lr"], [0.1, -1]], [["merge", "methods", 1, "density"], [0, 0.5]],
  [["merge", "methods", 2, "drop_rate"], 1], [["merge", "methods", 2, "search", "lambda"], [0.5, -0.1]], [["merge", "holdout", "fraction"], 1], [["merge", "data", "examples"], 0],
  [["tasks", 1, "max_train"], 0], [["osrm", "samples"], 0], [["training", "per_task", "batch_size", "sst2"], -2], [["tasks", 1, "source", "text"], ["a", "b", "c"]],
];
const BAD_NAMES: [KeyPath, unknown][] = [
  [["init"], "xavier"], [["lora", "blocks"], ["z"]], [["lora", "blocks"], ["q", "q"]], [["backbone", "family"], "gpt5"], [["osrm", "variant"], "x"],
  [["training", "scheduler"], "cosine"], [["tasks", 2, "source", "task"], "imdb"], [["evaluation", "split"], "test2"], [["training", "precision"], "fp8"],
  [["lora", "freeze"], "C"], [["merge", "methods", 1, "trim_scope"], "row"], [["merge", "select"], "best"], [["merge", "methods", 0], "super_merge"], [["tasks", 0], "imdb"],
  [["paper_results", 0, "method"], "magic"], [["paper_results", 0, "scores", "mnli"], 80], [["training", "per_task", "batch_size", "qqp"], 8],
  [["tasks", 1, "name"], "has space"], [["name"], "../escape"], [["merge", "methods", 1, "search"], { density: [0.1, 0.2] }],
];

type Mutation = (config: unknown, pick: <T>(items: T[]) => T) => string;
const MUTATIONS: Mutation[] = [
  (config, pick) => {
    const path = pick(LEAVES.filter((p) => p.length > 0));
    const value = (parentOf(config, path) as Node)?.[path.at(-1)!];
    if (value === undefined) return "skip";
    set(config, path, pick(WRONG_TYPES[value === null ? "object" : typeof value]!));
    return `wrong type at ${formatKeyPath(path)}`;
  },
  (config, pick) => {
    const path = pick(MAPPINGS);
    const node = path.reduce<unknown>((n, s) => (n as Node | undefined)?.[s], config) as Node | undefined;
    if (!node || typeof node !== "object" || Array.isArray(node)) return "skip";
    node[`zz_unknown_${Object.keys(node).length}`] = 1;
    return `unknown key under ${formatKeyPath(path)}`;
  },
  (config, pick) => {
    const path = pick(REQUIRED);
    const parent = path.slice(0, -1).reduce<unknown>((n, s) => (n as Node | undefined)?.[s], config) as Node | undefined;
    if (!parent || typeof parent !== "object") return "skip";
    delete parent[path.at(-1)!];
    return `missing ${formatKeyPath(path)}`;
  },
  (config, pick) => {
    const [path, value] = pick(BAD_PATHS);
    set(config, path, value);
    return `bad path at ${formatKeyPath(path)}`;
  },
  (config, pick) => {
    const [path, value] = pick(OUT_OF_RANGE);
    set(config, path, value);
    return `out of range at ${formatKeyPath(path)}`;
  },
  (config, pick) => {
    const [path, value] = pick(BAD_NAMES);
    set(config, path, value);
    return `bad name at ${formatKeyPath(path)}`;
  },
];

describe("config fuzzing", () => {
  it("accepts the base config", () => {
    const e = parseExperiment(stringify(BASE), { file: join(dir, "base.yaml") });
    expect(e.tasks).toHaveLength(3);
    expect(e.training.per_task.epochs).toEqual({ sst2: 3, mine: 2, rte2: 4 });
  });

  it("rejects 200 mutated configs, each problem with its key path, without crashing", () => {
    const rand = random(20250);
    const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;
    const categories = new Set<number>();
    let cases = 0;
    while (cases < 200) {
      const config = clone(BASE);
      const applied: string[] = [];
      const count = 1 + Math.floor(rand() * 3);
      for (let i = 0; i < count; i += 1) {
        // Every category gets its turn: the first mutation cycles through them.
        const index = i === 0 ? cases % MUTATIONS.length : Math.floor(rand() * MUTATIONS.length);
        try {
          const what = MUTATIONS[index]!(config, pick);
          if (what !== "skip") {
            applied.push(what);
            categories.add(index);
          }
        } catch {
          // an earlier mutation removed the place this one wanted to change
        }
      }
      if (applied.length === 0) continue;
      cases += 1;
      let error: unknown;
      try {
        parseExperiment(stringify(config), { file: join(dir, "mutated.yaml") });
      } catch (e) {
        error = e;
      }
      expect(error, `accepted: ${applied.join("; ")}`).toBeInstanceOf(ConfigError);
      const issues = (error as ConfigError).issues;
      expect(issues.length, applied.join("; ")).toBeGreaterThan(0);
      for (const issue of issues) {
        expect(issue.path.length, `no key path for "${issue.message}" (${applied.join("; ")})`).toBeGreaterThan(0);
        expect((error as ConfigError).message).toContain(formatKeyPath(issue.path));
      }
    }
    expect(cases).toBe(200);
    expect(categories.size).toBe(MUTATIONS.length);
  });
});
