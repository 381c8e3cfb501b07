/**
 * The terminal and --json output: durations, bar labels, the run's overall line and its ETA, log
 * lines that stand on their own between bars, errors as one JSON object, doctor's columns.
 */
import { execa } from "execa";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { formatDoctorReport } from "../src/commands/doctor.ts";
import { reportFiles } from "../src/commands/run.ts";
import { loadExperiment } from "../src/config/load.ts";
import { planExperiment } from "../src/plan/planner.ts";
import { runPlan } from "../src/plan/runner.ts";
import { withReport } from "../src/report/report-job.ts";
import { FakeExecutor } from "./fixtures/fake-executor.ts";
import { ConfigError } from "../src/config/errors.ts";
import { PythonError, RuntimeDiedError } from "../src/runtime/errors.ts";
import { packageRoot } from "../src/runtime/paths.ts";
import { errorRecord } from "../src/ui/errors.ts";
import { RunClock } from "../src/ui/eta.ts";
import { formatDuration, formatNumber } from "../src/ui/format.ts";
import { barLabel, createProgressDisplay, runLine } from "../src/ui/progress.ts";

const cli = (...args: string[]) => execa(process.execPath, [join(packageRoot, "bin/osrm.js"), ...args], { reject: false, cwd: packageRoot });
const job = { key: "train-9fae1c8e78bb", kind: "train", label: "train spam osrm" };

describe("formatting", () => {
  it("never shows 60 seconds or 60 minutes as a part of a duration", () => {
    expect(formatDuration(4.26)).toBe("4.3s");
    expect(formatDuration(59.6)).toBe("1m00s");
    expect(formatDuration(119.5)).toBe("2m00s");
    expect(formatDuration(3599.6)).toBe("1h00m");
    expect(formatDuration(7199)).toBe("2h00m");
    expect(formatDuration(3725)).toBe("1h02m");
    for (let s = 0; s < 10000; s += 1.37) expect(formatDuration(s)).not.toMatch(/(^|[hm])60[sm]/);
    expect(formatDuration(null)).toBe("–");
    expect(formatNumber(1)).toBe("1");
    expect(formatNumber(0.33601)).toBe("0.3360");
  });

  it("names each bar by its job, and steps inside a job after it", () => {
    expect(barLabel({ op: "train", task: "train", current: 3, total: 25 }, job)).toBe("train spam osrm");
    expect(barLabel({ op: "train", task: "eval", message: "epoch 1" }, job)).toBe("train spam osrm · eval");
    const evaluate = { key: "evaluate-1", kind: "evaluate", label: "evaluate ties osrm" };
    expect(barLabel({ op: "evaluate", task: "evaluate merged" }, evaluate)).toBe("evaluate ties osrm · merged");
    expect(barLabel({ op: "collect_stats", task: "stats spam" }, { key: "stats-1", kind: "stats", label: "stats spam" })).toBe("stats spam");
  });

  it("shows the run as jobs done of all, elapsed time, and the ETA once there is one", () => {
    const progress = { done: 12, total: 31, failed: 0, startedAt: 0, etaSeconds: null, estimatedAt: 0 };
    expect(runLine(progress, 185_000)).toBe("run  12/31 jobs  elapsed 3m05s  ETA after the first job");
    expect(runLine({ ...progress, failed: 1, etaSeconds: 300, estimatedAt: 60_000 }, 110_000)).toBe("run  12/31 jobs  1 failed  elapsed 1m50s  ETA 4m10s");
  });
});

describe("the run's ETA", () => {
  it("calibrates the planner's estimates by the finished jobs and uses observed durations for the rest", () => {
    const jobs = [
      { key: "t1", kind: "train", estimate: 10 },
      { key: "t2", kind: "train", estimate: 20 },
      { key: "m1", kind: "merge", estimate: null },
      { key: "m2", kind: "merge", estimate: null },
      { key: "r", kind: "report", estimate: null },
      { key: "done", kind: "train", estimate: 99 },
    ];
    const clock = new RunClock(jobs, new Set(["done"]));
    expect(clock.etaSeconds(0)).toBeNull(); // nothing of this run has finished yet
    clock.started("t1", 0);
    clock.ended("t1", 100); // 10x slower than the estimate
    // t2: 20 x 10 = 200; merges and the report: no estimate, no merge finished -> the mean of all (100).
    expect(clock.etaSeconds(100_000)).toBeCloseTo(200 + 3 * 100);
    clock.started("m1", 100_000);
    clock.ended("m1", 4);
    expect(clock.etaSeconds(104_000)).toBeCloseTo(200 + 4 + (100 + 4) / 2);
    clock.started("t2", 104_000); // 50 s into t2, 150 s of it are left
    expect(clock.etaSeconds(154_000)).toBeCloseTo(150 + 4 + 52);
    clock.dropped("r");
    expect(clock.etaSeconds(154_000)).toBeCloseTo(150 + 4);
  });
});

describe("the terminal display", () => {
  it("prints log lines through the bar library, each on a line of its own, and clears the bars at the end", () => {
    let written = "";
    const stream = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          written += chunk.toString();
          done();
        },
      }),
      { isTTY: true, columns: 160, rows: 40 },
    ) as unknown as NodeJS.WriteStream;
    const display = createProgressDisplay("bars", stream);
    const other = { key: "train-0123456789ab", kind: "train", label: "train ham gaussian" };
    display.run({ done: 3, total: 31, failed: 0, startedAt: Date.now(), etaSeconds: null, estimatedAt: Date.now() });
    display.update({ op: "train", task: "train", current: 5, total: 25, unit: "step" }, job);
    display.update({ op: "train", task: "train", current: 7, total: 25, unit: "step", metrics: { epoch: 1, loss: 0.336 } }, other);
    display.log(`start  train ham gaussian  (train-0123456789ab)`);
    display.jobEnded(job); // removing a bar redraws the others at once
    display.stop();
    const plain = written.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "\n");
    expect(plain.split(/[\r\n]/)).toContain("start  train ham gaussian  (train-0123456789ab)");
    expect(plain).toMatch(/train ham gaussian\s+\S+ 7\/25 step/);
    expect(plain).not.toContain("train spam osrm"); // its job ended before a redraw: gone
    expect(plain).toContain("epoch 1  loss 0.3360"); // a whole number as one, not "1.000"
    expect(plain).toContain("run  3/31 jobs");
    expect(written.endsWith("\x1b[0J")).toBe(true); // the bars are cleared when the display stops
  });
});

describe("without a terminal", () => {
  it("prints plain lines named by the job, and the run's line once per ended job", () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (text: string) => lines.push(...text.trimEnd().split("\n")) } as unknown as NodeJS.WriteStream;
    const display = createProgressDisplay("bars", stream);
    const progress = { done: 0, total: 3, failed: 0, startedAt: Date.now(), etaSeconds: null, estimatedAt: Date.now() };
    display.run(progress);
    display.run(progress); // a job started: nothing new to say about the run
    display.update({ op: "train", task: "train", current: 25, total: 25, unit: "step", metrics: { loss: 0.25 } }, job);
    display.run({ ...progress, done: 1 });
    expect(lines).toEqual([
      expect.stringMatching(/^\[run  0\/3 jobs  elapsed \S+  ETA after the first job\]$/),
      "[train spam osrm] 25/25 step  loss 0.2500",
      expect.stringMatching(/^\[run  1\/3 jobs /),
    ]);
  });
});

describe("errors under --json", () => {
  it("are one JSON object on stdout with the plain exit codes", async () => {
    const unknown = await cli("--json", "no-such-command");
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toBe("");
    expect(JSON.parse(unknown.stdout)).toEqual({ error: { kind: "usage", message: expect.stringContaining("unknown command") } });

    const dir = mkdtempSync(join(tmpdir(), "osrm-json-"));
    writeFileSync(join(dir, "bad.yaml"), "name: bad\nbackbone: roberta-large\ntasks: [sst2]\ntraining: {lr: -1}\n");
    const bad = await cli("--json", "plan", join(dir, "bad.yaml"));
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout.trim().split("\n")).toHaveLength(1);
    const { error } = JSON.parse(bad.stdout);
    expect(error).toMatchObject({ kind: "config", path: "training.lr", file: join(dir, "bad.yaml") });
    expect(error.issues[0]).toMatchObject({ path: "training.lr", line: 4 });
  });

  it("name the kind and, for a payload an op refused, its field", () => {
    expect(errorRecord(new PythonError("train", "PayloadError", "train: training.lr: must be > 0, got -1", "", undefined, true))).toEqual({
      kind: "input",
      message: "train: training.lr: must be > 0, got -1",
      path: "training.lr",
    });
    expect(errorRecord(new PythonError("merge", "ValueError", "adapter 'a' has no head", ""))).toEqual({ kind: "input", message: "merge: adapter 'a' has no head" });
    expect(errorRecord(new PythonError("train", "RuntimeError", "CUDA out of memory", ""))).toMatchObject({ kind: "python", type: "RuntimeError" });
    expect(errorRecord(new RuntimeDiedError("train", null, "SIGKILL")).kind).toBe("runtime");
    expect(errorRecord(new ConfigError("/x.yaml", [{ path: ["tasks", 2, "source", "kind"], message: "bad" }]))).toMatchObject({ kind: "config", path: "tasks[2].source.kind" });
    expect(errorRecord(new TypeError("x is undefined")).kind).toBe("internal");
  });
});

describe("a run's result", () => {
  it("names the tables and the report page once the report job is done", async () => {
    const output = mkdtempSync(join(tmpdir(), "osrm-result-"));
    const plan = planExperiment(loadExperiment("test/fixtures/tiny.yaml", { overrides: [`output=${output}`, "init=gaussian"] }));
    expect(reportFiles(plan)).toBeNull();
    await runPlan(plan, withReport(plan, new FakeExecutor()));
    const files = reportFiles(plan)!;
    for (const file of [files.table, files.report, ...Object.values(files.tables)]) expect(existsSync(file), file).toBe(true);
    expect(files.report.startsWith(output)).toBe(true);
  });
});

describe("osrm doctor", () => {
  it("aligns its columns, long package names included", () => {
    const text = formatDoctorReport({
      node: "v20.0.0",
      runtime: { source: "venv", python: "/p/bin/python", venv: "/p", ready: true },
      python: {
        python: "3.11.7",
        packages: { torch: "2.13.0", transformers: "5.18.0", peft: null },
        torch: { version: "2.13.0", cuda_available: false, cuda_version: null, gpus: [], bf16_supported: false, threads: 2 },
      } as never,
      problems: [],
    });
    const starts = text.split("\n").map((line) => /^\S+\s+/.exec(line)![0].length);
    expect(new Set(starts).size).toBe(1);
    expect(text).toContain("transformers  5.18.0");
    expect(text).toContain("peft          missing");
  });
});
