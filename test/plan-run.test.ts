/**
 * The runner with the fake executor (test/fixtures/fake-executor.ts): the real planner, store,
 * locks and report; only the Python ops are stood in for.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadExperiment, parseExperiment } from "../src/config/load.ts";
import { planExperiment, type Plan } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { withReport } from "../src/report/report-job.ts";
import { summarizePlan } from "../src/plan/summary.ts";
import { JobStore } from "../src/store/job-store.ts";
import { FakeExecutor } from "./fixtures/fake-executor.ts";

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
const TINY = "test/fixtures/tiny.yaml";
const tinyPlan = (output: string, overrides: string[] = []) => planExperiment(loadExperiment(TINY, { overrides: [`output=${output}`, ...overrides] }));
const doneKeys = (plan: Plan) => plan.jobs.filter((j) => new JobStore(plan.experiment.output).isDone(j.key)).map((j) => j.key);
const journalKeys = (file: string, what: "start" | "end") =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith(what + " ")).map((l) => l.slice(what.length + 1)) : [];

describe("running a plan", () => {
  it("runs the paper's q,v plan to the end; a second plan shows all done and a second run does nothing", async () => {
    const output = tmp("osrm-run-");
    const plan = planExperiment(loadExperiment("configs/paper/roberta-large-qv.yaml", { overrides: [`output=${output}`] }));
    const executor = new FakeExecutor();
    const first = await runPlan(plan, withReport(plan, executor), { jobs: 2 });
    expect(first).toMatchObject({ total: 64, alreadyDone: 0, failed: [], blocked: [], aborted: false });
    expect(first.ran).toHaveLength(64);
    expect(executor.calls).toHaveLength(63); // the report runs in TypeScript
    const summary = summarizePlan(plan, (key) => new JobStore(output).isDone(key));
    expect(summary.kinds.map((k) => [k.kind, k.jobs, k.done])).toEqual([
      ["stats", 8, 8], ["init", 8, 8], ["train", 16, 16], ["diagnose", 2, 2], ["merge", 14, 14], ["evaluate", 14, 14], ["figures", 1, 1], ["report", 1, 1],
    ]);
    const report = plan.jobs.find((j) => j.kind === "report")!;
    const doneFile = new JobStore(output).layout.file(report.key, "done");
    const stamp = statSync(doneFile).mtimeMs;
    const replanned = planExperiment(loadExperiment("configs/paper/roberta-large-qv.yaml", { overrides: [`output=${output}`] }));
    const again = await runPlan(replanned, withReport(replanned, new FakeExecutor()));
    expect(again).toMatchObject({ alreadyDone: 64, ran: [] });
    expect(statSync(doneFile).mtimeMs).toBe(stamp);

    // The command itself, as a user runs it.
    const { stdout } = await promisify(execFile)(process.execPath, ["bin/osrm.js", "plan", "configs/paper/roberta-large-qv.yaml", "--set", `output=${output}`]);
    expect(stdout).toMatch(/statistics\s+8\s+8\s+0/);
    expect(stdout).toMatch(/training\s+16\s+16\s+0/);
    expect(stdout).toMatch(/total\s+64\s+64\s+0/);
    expect(stdout).toContain("all jobs are done.");
    const table = readFileSync(join(new JobStore(output).outDir(report.key), "table.md"), "utf8");
    expect(table.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| Method") && !l.startsWith("| -"))).toHaveLength(16); // 2 individual + 14 merges
  });

  it("stops only the jobs that depend on a failure", async () => {
    const output = tmp("osrm-fail-");
    const plan = tinyPlan(output);
    const summary = await runPlan(plan, withReport(plan, new FakeExecutor({ failLabels: ["train sst2 osrm"] })));
    expect(summary.failed.map((f) => f.job.label)).toEqual(["train sst2 osrm"]);
    expect(summary.failed[0]!.error.message).toContain("requested failure");
    // The osrm merges, evaluations and interference matrix, the figures and the report wait on it; the
    // gaussian side finishes.
    expect(summary.blocked.map((b) => b.job.label).sort()).toEqual(
      ["evaluate task_arithmetic osrm", "evaluate ties osrm", "interference osrm", "merge task_arithmetic osrm", "merge ties osrm", "figures", "report"].sort(),
    );
    expect(plan.jobs.filter((j) => j.coords.init === "gaussian").every((j) => new JobStore(output).isDone(j.key))).toBe(true);
    const failed = plan.jobs.find((j) => j.label === "train sst2 osrm")!;
    expect(readFileSync(new JobStore(output).layout.file(failed.key, "log"), "utf8")).toContain("failed: requested failure");
  });

  it("reports an op the runtime does not have yet, once, and runs everything that does not need it", async () => {
    const plan = tinyPlan(tmp("osrm-na-"));
    const summary = await runPlan(plan, withReport(plan, new FakeExecutor({ unavailable: ["merge"] })));
    expect([...summary.unavailable.keys()]).toEqual(["merge"]);
    expect(summary.failed).toEqual([]);
    expect(summary.blocked.filter((b) => b.job.kind === "merge").every((b) => b.reason.includes("'merge' is not available yet"))).toBe(true);
    expect(summary.blocked).toHaveLength(4 + 4 + 2); // merges, evaluations, figures and report
    expect(summary.ran).toHaveLength(3 + 3 + 6 + 2); // stats, inits, trainings, interference matrices
  });

  it("runs independent jobs side by side on distinct workers, never more than --jobs", async () => {
    const plan = tinyPlan(tmp("osrm-par-"), ["init=gaussian"]);
    let active = 0;
    let peak = 0;
    const workers = new Set<number>();
    const inner = withReport(plan, new FakeExecutor({ delayMs: 40 }));
    const summary = await runPlan(
      plan,
      {
        async execute(job, context) {
          active += 1;
          peak = Math.max(peak, active);
          workers.add(context.worker);
          try {
            return await inner.execute(job, context);
          } finally {
            active -= 1;
          }
        },
      },
      { jobs: 2 },
    );
    expect(summary.ran).toHaveLength(plan.jobs.length);
    expect(peak).toBe(2);
    expect([...workers].sort()).toEqual([0, 1]);
  });

  it("stops on abort, keeps what finished, and the next run redoes only the rest", async () => {
    const output = tmp("osrm-abort-");
    const journal = join(output, "journal");
    const controller = new AbortController();
    const tiny = tinyPlan(output);
    const first = runPlan(tiny, withReport(tiny, new FakeExecutor({ delayMs: 60, journal })), {
      signal: controller.signal,
      onEvent: (e) => e.type === "done" && e.job.kind === "init" && controller.abort(),
    });
    const summary = await first;
    expect(summary.aborted).toBe(true);
    const finished = doneKeys(tinyPlan(output));
    expect(finished.length).toBeGreaterThan(0);
    writeFileSync(journal, "");
    const second = await runPlan(tiny, withReport(tiny, new FakeExecutor({ journal })));
    expect(second.alreadyDone).toBe(finished.length);
    expect(journalKeys(journal, "start").filter((k) => finished.includes(k))).toEqual([]);
    expect(doneKeys(tinyPlan(output))).toHaveLength(tinyPlan(output).jobs.length);
  });

  it("survives a SIGKILL of `osrm run` in a child process: the rerun finishes the rest and redoes nothing finished", async () => {
    const output = tmp("osrm-kill-");
    const journal = join(output, "journal-1");
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/run-fake.ts", TINY, output, journal, "150"], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 60_000;
    while (journalKeys(journal, "end").length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGKILL");
    await exited;

    const plan = tinyPlan(output);
    const finished = doneKeys(plan);
    const interrupted = journalKeys(journal, "start").filter((k) => !finished.includes(k));
    // An op can end a moment before its done.json is written: such a job counts as interrupted.
    expect(finished.length).toBeGreaterThanOrEqual(4);
    expect(finished.length).toBeLessThan(plan.jobs.length);
    expect(interrupted.length).toBeGreaterThan(0); // killed mid-job: its folder is a leftover
    expect(interrupted.every((k) => existsSync(new JobStore(output).layout.jobDir(k)))).toBe(true);

    const journal2 = join(output, "journal-2");
    const rerun = await runPlan(plan, withReport(plan, new FakeExecutor({ journal: journal2 })), { jobs: 2 });
    expect(rerun.failed).toEqual([]);
    expect(rerun.alreadyDone).toBe(finished.length);
    const started = journalKeys(journal2, "start");
    expect(started.filter((k) => finished.includes(k))).toEqual([]);
    expect(started.sort()).toEqual(plan.jobs.filter((j) => j.kind !== "report" && !finished.includes(j.key)).map((j) => j.key).sort());
    expect(doneKeys(plan)).toHaveLength(plan.jobs.length);
    // No leftovers of the killed attempt: every job folder holds out/, never out.partial/.
    for (const key of readdirSync(new JobStore(output).layout.jobsDir)) {
      expect(existsSync(join(new JobStore(output).layout.jobDir(key), "out.partial"))).toBe(false);
    }
  });

  it("feeds each job its inputs' outputs: statistics files into inits, adapters into merges", async () => {
    const output = tmp("osrm-io-");
    const plan = planExperiment(parseExperiment(`name: io\nbackbone: roberta-large\ntasks: [sst2, rte]\ninit: osrm\nmerge: {methods: [ties]}\noutput: ${output}\n`));
    const executor = new FakeExecutor();
    await runPlan(plan, withReport(plan, executor));
    const store = new JobStore(output);
    const init = executor.calls.find((c) => c.op === "osrm_init" && c.payload.task === "sst2")!;
    const rteStats = plan.jobs.find((j) => j.kind === "stats" && j.coords.task === "rte")!;
    expect(init.payload.stats).toEqual({ rte: join(store.outDir(rteStats.key), "stats.safetensors") });
    const merge = executor.calls.find((c) => c.op === "merge")!;
    const trains = plan.jobs.filter((j) => j.kind === "train");
    expect((merge.payload.adapters as { path: string }[]).map((a) => a.path)).toEqual(trains.map((t) => store.outDir(t.key)));
    // While a job runs, it writes into its staging folder; job.json records where it ends up.
    const mergeJob = plan.jobs.find((j) => j.kind === "merge")!;
    expect(merge.payload.out).toBe(store.layout.file(mergeJob.key, "staging"));
    expect(JSON.parse(readFileSync(store.layout.file(mergeJob.key, "job"), "utf8")).payload.out).toBe(store.outDir(mergeJob.key));
  });
});
