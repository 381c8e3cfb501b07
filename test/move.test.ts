/**
 * Runs that move: job identities hold content digests, never paths, so a moved or copied model,
 * data folder, run folder or clone keeps every finished job done, and the jobs run at the new
 * place read their inputs' results re-rooted there. The digests are the Python runtime's too.
 */
import { execa } from "execa";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExperiment } from "../src/config/load.ts";
import { contentDigest } from "../src/plan/digest.ts";
import { planExperiment, type Plan } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { withReport } from "../src/report/report-job.ts";
import { packageRoot } from "../src/runtime/paths.ts";
import { JobStore } from "../src/store/job-store.ts";
import { FakeExecutor } from "./fixtures/fake-executor.ts";

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** A project as a user has it: a config with a local model folder and CSV tasks beside it. */
function project(root: string): string {
  mkdirSync(join(root, "model"), { recursive: true });
  writeFileSync(join(root, "model", "config.json"), JSON.stringify({ model_type: "roberta", hidden_size: 8 }));
  writeFileSync(join(root, "model", "model.safetensors"), Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251)));
  writeFileSync(join(root, "model", "README.md"), "a model card\n");
  mkdirSync(join(root, "data"));
  for (const task of ["spam", "ham"]) {
    for (const split of ["train", "eval"]) writeFileSync(join(root, "data", `${task}-${split}.csv`), `text,label\n${task} ${split} one,a\n${task} two,b\n`);
  }
  const tasks = ["spam", "ham"].map((t) => `  - {name: ${t}, source: {kind: files, train: data/${t}-train.csv, eval: data/${t}-eval.csv, text: [text], label: label}}`);
  writeFileSync(
    join(root, "exp.yaml"),
    ["name: moving", "backbone: {name_or_path: ./model, family: roberta}", "tasks:", ...tasks, "init: [gaussian, osrm]", "merge: {methods: [task_arithmetic, ties]}", "output: runs/moving"].join("\n") + "\n",
  );
  return join(root, "exp.yaml");
}

const planAt = (config: string, output: string): Plan => planExperiment(loadExperiment(config, { overrides: [`output=${output}`] }));
const keys = (plan: Plan) => plan.jobs.map((j) => j.key);

describe("content digests", () => {
  it("are the Python runtime's, leave out Markdown, hidden files and a model folder's records, and are cached by size and mtime", async () => {
    const root = tmp("osrm-digest-");
    project(root);
    const model = join(root, "model");
    const before = contentDigest(model);
    expect(before).toMatch(/^sha256:[0-9a-f]{64}$/);
    const python = await execa(process.execPath, [join(packageRoot, "bin/osrm.js"), "python", "--", "-c", `from osrm_runtime.digest import content_digest as d; print(d(${JSON.stringify(model)})); print(d(${JSON.stringify(join(model, "config.json"))}))`]);
    expect(python.stdout.trim().split("\n").slice(-2)).toEqual([before, contentDigest(join(model, "config.json"))]);

    writeFileSync(join(model, "README.md"), "an edited card\n");
    mkdirSync(join(model, ".cache"));
    writeFileSync(join(model, ".cache", "x"), "hub bookkeeping");
    // A model folder's records (a loss curve, a throughput table) are not what loading it reads.
    writeFileSync(join(model, "loss.csv"), "step,loss\n1,7.8\n");
    writeFileSync(join(model, "throughput.json"), "{}\n");
    expect(contentDigest(model)).toBe(before);
    const again = await execa(process.execPath, [join(packageRoot, "bin/osrm.js"), "python", "--", "-c", `from osrm_runtime.digest import content_digest as d; print(d(${JSON.stringify(model)}))`]);
    expect(again.stdout.trim().split("\n").pop()).toBe(before);
    // A tokenizer file is (the fixture has none: adding one changes the digest, removing it restores it).
    const tokenizer = join(model, "tokenizer_config.json");
    writeFileSync(tokenizer, "{\"model_max_length\": 7}\n");
    expect(contentDigest(model)).not.toBe(before);
    rmSync(tokenizer);
    expect(contentDigest(model)).toBe(before);

    // Same size and time: the cached digest is trusted (that is what keeps planning fast) ...
    const weights = join(model, "model.safetensors");
    const stamp = 1_700_000_000; // whole seconds, so the time set back below is the same to the nanosecond
    utimesSync(weights, stamp, stamp);
    const stamped = contentDigest(model);
    expect(stamped).toBe(before);
    const bytes = readFileSync(weights);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(weights, bytes);
    utimesSync(weights, stamp, stamp);
    expect(contentDigest(model)).toBe(before);
    // ... and a new time makes it read the file again.
    utimesSync(weights, stamp + 5, stamp + 5);
    expect(contentDigest(model)).not.toBe(before);
  });
});

describe("a run that moves", () => {
  it("keeps job identities when the project is copied, and changes them when a file's content does", () => {
    const a = tmp("osrm-move-a-");
    const b = tmp("osrm-move-b-");
    const first = planAt(project(a), join(a, "runs"));
    cpSync(a, b, { recursive: true });
    const second = planAt(join(b, "exp.yaml"), join(b, "runs"));
    expect(keys(second)).toEqual(keys(first));
    // The payloads say where things are now; the identities (job.json) hold digests, no path.
    const train = second.jobs.find((j) => j.kind === "train")!;
    expect((train.payload.model as { name_or_path: string }).name_or_path).toBe(join(b, "model"));
    const identity = JSON.stringify(second.identityOf(train));
    expect(identity).not.toContain(a);
    expect(identity).not.toContain(b);
    expect(identity).toContain(contentDigest(join(b, "model")));

    writeFileSync(join(b, "data", "spam-train.csv"), "text,label\nspam train one,a\nchanged,b\n");
    const changed = planAt(join(b, "exp.yaml"), join(b, "runs"));
    const differs = (kind: string, task?: string) =>
      changed.jobs.filter((j) => j.kind === kind && (!task || j.coords.task === task)).map((j) => j.key).every((k) => !keys(first).includes(k));
    expect(differs("stats", "spam")).toBe(true);
    expect(differs("train", "spam")).toBe(true);
    expect(changed.jobs.filter((j) => j.kind === "stats" && j.coords.task === "ham").map((j) => j.key)).toEqual(
      first.jobs.filter((j) => j.kind === "stats" && j.coords.task === "ham").map((j) => j.key),
    );
  });

  it("moved with its run folder, every job is done, and jobs run again there read their inputs at the new place", async () => {
    const a = tmp("osrm-move-run-");
    const config = project(a);
    const plan = planAt(config, join(a, "runs"));
    const summary = await runPlan(plan, withReport(plan, new FakeExecutor()));
    expect(summary.failed).toEqual([]);
    expect(summary.ran).toHaveLength(plan.jobs.length);

    const b = `${a}-moved`;
    renameSync(a, b); // nothing is left at the old place
    const cli = await execa(process.execPath, [join(packageRoot, "bin/osrm.js"), "plan", join(b, "exp.yaml"), "--set", `output=${join(b, "runs")}`]);
    expect(cli.stdout).toMatch(new RegExp(`total\\s+${plan.jobs.length}\\s+${plan.jobs.length}\\s+0`));
    expect(cli.stdout).toContain("all jobs are done.");

    // Redo the OSRM inits and everything after them: the fake init checks that the statistics
    // files named in the (moved) stats results exist, so they must be read re-rooted.
    const moved = planAt(join(b, "exp.yaml"), join(b, "runs"));
    const store = new JobStore(moved.experiment.output);
    const redo = moved.jobs.filter((j) => j.kind !== "stats" && !(j.kind === "train" && j.coords.init === "gaussian"));
    for (const job of redo) rmSync(store.layout.jobDir(job.key), { recursive: true });
    const executor = new FakeExecutor();
    const rerun = await runPlan(moved, withReport(moved, executor));
    expect(rerun.failed.map((f) => f.error.message)).toEqual([]);
    expect(rerun.ran.sort()).toEqual(redo.map((j) => j.key).sort());
    const init = executor.calls.find((c) => c.op === "osrm_init")!;
    for (const file of Object.values(init.payload.stats as Record<string, string>)) expect(file.startsWith(join(b, "runs"))).toBe(true);
    const stats = moved.jobs.find((j) => j.kind === "stats")!;
    expect(store.result<{ file: string }>(stats.key)!.file.startsWith(join(b, "runs", "jobs", stats.key, "out"))).toBe(true);
    // result.json itself keeps what the op returned, as information.
    expect(JSON.parse(readFileSync(store.layout.file(stats.key, "result"), "utf8")).file.startsWith(join(a, "runs"))).toBe(true);
  });
});
