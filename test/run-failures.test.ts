/**
 * How a run reports its failures (the runner with the fake executor; no Python): every job a
 * failure kept from starting is listed by name under it, a full or read-only run folder stops the
 * run from starting more, and the exit code says whether the user's input was at fault.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeOutcome, RunFailedError } from "../src/commands/run.ts";
import { loadExperiment } from "../src/config/load.ts";
import { asStorageError, StorageError, UsageError, writingTo } from "../src/errors.ts";
import type { ExecutionContext, JobExecutor } from "../src/plan/executor.ts";
import type { Job } from "../src/plan/job.ts";
import { planExperiment, type Plan } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { withReport } from "../src/report/report-job.ts";
import { PythonError } from "../src/runtime/errors.ts";
import { JobStore } from "../src/store/job-store.ts";
import { FakeExecutor } from "./fixtures/fake-executor.ts";

const tinyPlan = (overrides: string[] = []) =>
  planExperiment(loadExperiment("test/fixtures/tiny.yaml", { overrides: [`output=${mkdtempSync(join(tmpdir(), "osrm-failures-"))}`, ...overrides] }));

/** The fake ops, except that jobs whose label is listed throw the given error. */
class Failing implements JobExecutor {
  readonly started: string[] = [];
  private readonly fake = new FakeExecutor();
  constructor(private readonly failures: Record<string, () => Error>) {}
  async execute(job: Job, context: ExecutionContext): Promise<unknown> {
    this.started.push(job.label);
    const fail = this.failures[job.label];
    if (fail) throw fail();
    return this.fake.execute(job, context);
  }
}

const badInput = (op: string, message: string) => new PythonError(op, "InputError", message, "Traceback ...", "osrm_runtime.errors", true, { detail: "csv.Error: x" });

/** Every job that depends on `key`, directly or not. */
function dependents(plan: Plan, key: string): Set<string> {
  const out = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const job of plan.jobs) {
      if (!out.has(job.key) && job.inputs.some((k) => k === key || out.has(k))) {
        out.add(job.key);
        grew = true;
      }
    }
  }
  return out;
}

describe("a failed run", () => {
  it("lists every job a failure kept from starting, by name, under it; bad input exits 2", async () => {
    const plan = tinyPlan();
    const executor = new Failing({ "stats rte": () => badInput("collect_stats", "task 'rte': x.tsv line 3: malformed TSV") });
    const summary = await runPlan(plan, withReport(plan, executor));
    const stats = plan.jobs.find((j) => j.label === "stats rte")!;
    expect(summary.failed.map((f) => f.job.label)).toEqual(["stats rte"]);
    // Exactly the jobs downstream of the failure are not started, each with it as its cause.
    expect(new Set(summary.blocked.map((b) => b.job.key))).toEqual(dependents(plan, stats.key));
    for (const blocked of summary.blocked) expect(blocked.causes).toEqual([stats.key]);
    const message = describeOutcome(summary, plan);
    const listed = message.match(/^ {2}not started because of it \((\d+): (.+)\)$/m)!;
    expect(Number(listed[1])).toBe(summary.blocked.length);
    expect(listed[2]!.split(", ").sort()).toEqual(summary.blocked.map((b) => b.job.label).sort());
    expect(listed[2]).toContain("report");
    const error = new RunFailedError(summary, plan);
    expect(error.exitCode).toBe(2);
    // The job's log keeps what the screen leaves out: the library's text and the traceback.
    const log = new JobStore(plan.experiment.output).layout.file(stats.key, "log");
    expect(await import("node:fs").then((fs) => fs.readFileSync(log, "utf8"))).toMatch(/failed: collect_stats: task 'rte'.*\ndetail: csv.Error: x\ntraceback \(InputError\):\nTraceback/);
  });

  it("lists a job that several failures blocked once, under all of them; any other failure exits 1", async () => {
    const plan = tinyPlan(["init=[gaussian]"]);
    const executor = new Failing({
      "train sst2 gaussian": () => new UsageError("bad sst2"),
      "train rte gaussian": () => new Error("out of memory"),
    });
    const summary = await runPlan(plan, withReport(plan, executor));
    const message = describeOutcome(summary, plan);
    const both = message.match(/^not started because train (?:sst2|rte) gaussian and train (?:sst2|rte) gaussian failed \((\d+): (.+)\)$/m);
    expect(both, message).not.toBeNull();
    const labels = [...message.matchAll(/not started because .*?\(\d+: (.+)\)$/gm)].flatMap((m) => m[1]!.split(", "));
    expect(labels.sort()).toEqual(summary.blocked.map((b) => b.job.label).sort()); // each once
    expect(new Set(labels).size).toBe(labels.length);
    expect(new RunFailedError(summary, plan).exitCode).toBe(1);
  });

  it("a full run folder stops the run from starting more jobs; finished ones stay done", async () => {
    const plan = tinyPlan();
    const first = plan.jobs[0]!;
    const full = plan.jobs.find((j) => j.label === "stats rte")!;
    const executor = new Failing({ "stats rte": () => asStorageError(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }), "/runs/tiny/jobs/x/out.partial")! });
    const summary = await runPlan(plan, withReport(plan, executor));
    expect(summary.halted?.job.key).toBe(full.key);
    // Nothing started after the disk filled; every job not done is reported, none silently dropped.
    expect(executor.started.at(-1)).toBe("stats rte");
    const store = new JobStore(plan.experiment.output);
    expect(store.isDone(first.key)).toBe(true);
    const notDone = plan.jobs.filter((j) => !store.isDone(j.key) && j.key !== full.key);
    expect(summary.blocked.map((b) => b.job.key).sort()).toEqual(notDone.map((j) => j.key).sort());
    const message = describeOutcome(summary, plan);
    expect(message).toContain("failed: stats rte");
    expect(message).toContain("/runs/tiny/jobs/x/out.partial: no space left on the device (ENOSPC); free space there or choose another output folder");
    expect(message).toContain("no more jobs were started after it");
    expect(new RunFailedError(summary, plan).exitCode).toBe(1);
  });
});

describe("file-system refusals", () => {
  it("name the path (Node names none for a failed write) and map to the documented exit codes", () => {
    const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: x, write`), { code, ...(path ? { path } : {}) });
    const full = asStorageError(errno("ENOSPC"), "/out/result.json")!;
    expect(full).toBeInstanceOf(StorageError);
    expect([full.message, full.exitCode]).toEqual(["/out/result.json: no space left on the device (ENOSPC); free space there or choose another output folder", 1]);
    const readOnly = asStorageError(errno("EROFS", "/mnt/ro/job.json"), "/ignored")!;
    expect([readOnly.message, readOnly.exitCode]).toEqual(["/mnt/ro/job.json: the file system is read-only (EROFS); choose an output folder you can write to", 2]);
    expect(asStorageError(errno("EACCES", "/x"))!.exitCode).toBe(2);
    expect(asStorageError(errno("ENOENT", "/x"))).toBeNull();
    expect(asStorageError(new Error("plain"))).toBeNull();
    expect(() => writingTo("/out/table.md", () => { throw errno("EDQUOT"); })).toThrow("/out/table.md: the disk quota is exhausted (EDQUOT)");
  });
});
