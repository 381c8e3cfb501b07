import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/config/errors.ts";
import { loadExperiment, parseExperiment } from "../src/config/load.ts";
import { UsageError } from "../src/errors.ts";

const PAPER = ["roberta-large-qv", "roberta-large-qkv", "roberta-large-q", "t5-large", "llama3-8b", "llama3.2-1b", "llama3.2-3b"];

function configError(text: string, overrides: string[] = []): ConfigError {
  try {
    parseExperiment(text, { overrides, label: "test.yaml" });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("the config was accepted");
}

const BASE = "name: t\nbackbone: roberta-large\ntasks: [sst2, rte]\n";

describe("experiment configs", () => {
  it.each(PAPER)("loads configs/paper/%s.yaml with the paper's defaults", (name) => {
    const e = loadExperiment(`configs/paper/${name}.yaml`);
    expect(e.tasks.map((t) => t.name)).toEqual(["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]);
    expect(e.init).toEqual(["gaussian", "osrm"]);
    expect(e.lora).toMatchObject({ rank: 8, alpha: 16, dropout: 0 });
    expect(e.training).toMatchObject({ lr: 4e-4, warmup_ratio: 0.06, scheduler: "linear", weight_decay: 0, seed: 42 });
    expect(e.osrm.samples).toBe(100);
    expect(e.tasks[0]).toMatchObject({ max_train: 105000, max_eval: 15000, max_length: 128, source: { kind: "glue", task: "cola", dir: null } });
  });

  it("reads the paper's per-task epoch and learning-rate files", () => {
    const qkv = loadExperiment("configs/paper/roberta-large-qkv.yaml");
    expect(qkv.lora.blocks).toEqual(["q", "k", "v"]);
    expect(qkv.training.per_task.epochs).toEqual({ cola: 20, sst2: 10, mrpc: 20, stsb: 20, qqp: 10, mnli: 10, qnli: 10, rte: 20 });
    expect(qkv.training.per_task.lr?.rte).toBe(2e-4);
    expect(qkv.training.per_task.lr?.sst2).toBe(4e-4);
    const llama = loadExperiment("configs/paper/llama3-8b.yaml");
    expect(llama.training.per_task.epochs).toEqual({ mrpc: 5, qnli: 2, qqp: 2, rte: 5, sst2: 2, mnli: 5, cola: 5, stsb: 5 });
  });

  it("expands a GLUE name into its source, from glue_dir when given", () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-glue-"));
    const e = parseExperiment(`${BASE}glue_dir: ${dir}\n`);
    expect(e.tasks[1]).toEqual({ name: "rte", source: { kind: "glue", task: "rte", dir }, max_train: 105000, max_eval: 15000, max_length: 128, invalid_labels: "error" });
  });

  it("names the file, key path, line, what was given and what is expected", () => {
    const error = configError(`${BASE}training:\n  lr: fast\n`);
    expect(error.exitCode).toBe(2);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain("test.yaml");
    expect(error.issues).toEqual([expect.objectContaining({ path: ["training", "lr"], line: 5, given: '"fast" (string)' })]);
    expect(error.message).toMatch(/training\.lr \(line 5\): expected a number, or a list; got "fast"/);
  });

  it("rejects unknown keys and lists the known ones", () => {
    const error = configError(`${BASE}lora:\n  rnak: 4\n`);
    expect(error.issues[0]).toMatchObject({ path: ["lora", "rnak"], line: 5 });
    expect(error.issues[0]!.message).toContain("expected one of: rank, alpha, dropout, blocks, freeze");
  });

  it("reports a missing required key at its parent's line", () => {
    const error = configError("name: t\ntasks: [sst2]\n");
    expect(error.issues[0]).toMatchObject({ path: ["backbone"], given: "missing" });
  });

  it("points into the failing branch of a union (a merge method's bad hyperparameter)", () => {
    const error = configError(`${BASE}merge:\n  methods:\n    - ties\n    - {name: ties, density: 1.5}\n    - {name: dare_ta, drop_rate: 1}\n    - {name: task_arithmetic, lambda: 0}\n`);
    expect(error.issues.map((i) => i.path.join("."))).toEqual(["merge.methods.1.density", "merge.methods.2.drop_rate", "merge.methods.3.lambda"]);
    expect(error.message).toContain("density must be in (0, 1]");
    expect(error.message).toContain("drop_rate must be in [0, 1)");
    expect(error.message).toContain("lambda must be in (0, 10]");
  });

  it("applies --set with typed values and names --set as the origin of a bad one", () => {
    const e = parseExperiment(BASE, { overrides: ["training.lr=1e-4", "lora.blocks=[q,k,v]", "tasks[1]=mrpc", "training.gradient_checkpointing=true"] });
    expect(e.training.lr).toBe(1e-4);
    expect(e.lora.blocks).toEqual(["q", "k", "v"]);
    expect(e.tasks.map((t) => t.name)).toEqual(["sst2", "mrpc"]);
    expect(e.training.gradient_checkpointing).toBe(true);
    const error = configError(BASE, ["lora.rank=eight"]);
    expect(error.issues[0]).toMatchObject({ path: ["lora", "rank"], origin: "from --set lora.rank=eight" });
    expect(() => parseExperiment(BASE, { overrides: ["lora.rank"] })).toThrow(/expected key.path=value/);
  });

  it("checks paths, per-task maps and cross-key rules before any work", () => {
    const error = configError(
      `${BASE}glue_dir: /nonexistent/glue\ntraining:\n  lr: [1e-4, 2e-4]\n  per_task:\n    lr: {rte: 1e-4}\n    epochs: {sst2: 3, cola: 2}\n`,
    );
    const byPath = Object.fromEntries(error.issues.map((i) => [i.path.join("."), i.message]));
    expect(byPath["glue_dir"]).toContain("/nonexistent/glue does not exist");
    expect(byPath["training.per_task.lr"]).toContain("sweep axis");
    expect(byPath["training.per_task.epochs.cola"]).toContain("not a task of this config");
    expect(configError("name: t\nbackbone: roberta-large\ntasks: [sst2]\ninit: osrm\n").issues[0]!.path).toEqual(["init"]);
  });

  it("checks a per-task file's values and names the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-hp-"));
    writeFileSync(join(dir, "epochs.json"), JSON.stringify({ sst2: 2.5, rte: 3 }));
    writeFileSync(join(dir, "exp.yaml"), `${BASE}training:\n  per_task:\n    epochs: epochs.json\n`);
    try {
      loadExperiment(join(dir, "exp.yaml"));
      throw new Error("accepted");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const issue = (error as ConfigError).issues[0]!;
      expect(issue.path).toEqual(["training", "per_task", "epochs", "sst2"]);
      expect(issue.origin).toBe(`in ${join(dir, "epochs.json")}`);
    }
  });

  it("reports YAML syntax errors and a missing file as config errors", () => {
    const syntax = configError(`${BASE}lora: {rank: 8\n`);
    expect(syntax.issues[0]!.message).toContain("YAML syntax");
    expect(syntax.issues[0]!.line).toBeGreaterThan(0);
    expect(() => loadExperiment("configs/paper/no-such.yaml")).toThrow(/no-such.yaml:\n  \(top level\): the file does not exist/);
  });

  it("accepts files sources relative to the config's folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "osrm-files-"));
    writeFileSync(join(dir, "train.csv"), "text,label\na,0\n");
    writeFileSync(join(dir, "dev.csv"), "text,label\nb,1\n");
    writeFileSync(
      join(dir, "exp.yaml"),
      `name: f\nbackbone: ./model\ntasks:\n  - {name: mine, source: {kind: files, train: train.csv, eval: dev.csv, text: [text], label: label}}\n  - sst2\n`,
    );
    const error = (() => {
      try {
        loadExperiment(join(dir, "exp.yaml"));
      } catch (e) {
        return e as ConfigError;
      }
    })();
    // The backbone folder does not exist; the data files do.
    expect(error?.issues.map((i) => i.path.join("."))).toEqual(["backbone"]);
  });
});
