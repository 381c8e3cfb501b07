/**
 * Broken inputs through the real command line, as a new user would give them: `osrm train`,
 * `osrm merge` and `osrm run` (a 2-task config) on a tiny model. Each case checks the exit code,
 * that the message names the file (and line, row, tensor or key) and says what to do, that no
 * traceback or raw library text reaches the screen, and that nothing finished is lost. The table
 * of cases is printed at the end (input, exit code, message).
 *
 * A full disk and a read-only output are made with a small tmpfs where this machine allows
 * mounting one (root on Linux); elsewhere that case is skipped with one line saying so.
 */
import { execa, execaSync } from "execa";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync, statSync, closeSync, openSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callOp } from "../src/ops/op.ts";
import { makeTestAdapter, makeTestFixture } from "../src/ops/testing.ts";
import { packageRoot } from "../src/runtime/paths.ts";
import { sharedRuntime } from "./shared-runtime.ts";

const dir = mkdtempSync(join(tmpdir(), "osrm-bad-input-"));
let model = "";
let latin1Offset = 0;
const table: { input: string; exit: number; message: string }[] = [];

interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const r = await execa("node", [join(packageRoot, "bin/osrm.js"), ...args], { reject: false, cwd: dir, env: { FORCE_COLOR: "0", ...env }, timeout: 600_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The message the user sees, checked for what must never be on the screen, and recorded. */
function seen(input: string, r: Outcome): string {
  expect(r.stderr).not.toMatch(/Traceback|weights_only|UnicodeDecodeError|SafetensorError|Repo id must be/);
  const message = r.stderr.replace(/^osrm: /, "").trim();
  table.push({ input, exit: r.exitCode, message: message.split("\n").slice(0, 3).join(" / ") });
  return message;
}

const train = (data: string[], out: string, extra: string[] = []) => [
  "train", "-q", "--model", model, ...data, "--text", "text", "--label", "label", "--epochs", "1", "--max-train", "24", "--batch-size", "8", "--out", join(dir, out), ...extra,
];
const files = (trainFile: string, evalFile = "eval.csv") => ["--train", join(dir, trainFile), "--eval", join(dir, evalFile)];

function rows(n: number, offset = 0): string {
  let text = "";
  for (let i = offset; i < offset + n; i += 1) text += i % 2 ? `good great film ${i},pos\n` : `bad awful plot ${i},neg\n`;
  return text;
}

/** A pickle whose loading creates `marker` (protocol 0: builtins.open(marker, "w")). */
function maliciousPickle(marker: string): Buffer {
  return Buffer.from(`cbuiltins\nopen\n(V${marker}\nVw\ntR.`, "latin1");
}

function copyModel(to: string): string {
  mkdirSync(to);
  for (const name of readdirSync(model)) copyFileSync(join(model, name), join(to, name));
  return to;
}

function runConfig(name: string, output: string, tasks: [string, string, string][], init = "[gaussian, osrm]"): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `backbone: {name_or_path: ${model}, dtype: float32}`,
      "tasks:",
      ...tasks.map(([task, trainFile, evalFile]) => `  - {name: ${task}, source: {kind: files, train: ${join(dir, trainFile)}, eval: ${join(dir, evalFile)}, text: [text], label: label}, max_train: 24, max_length: 16}`),
      `init: ${init}`,
      "lora: {rank: 4, blocks: [q, v]}",
      "osrm: {samples: 16}",
      "training: {epochs: 1, batch_size: 8, precision: fp32}",
      "merge: {methods: [task_arithmetic]}",
      `output: ${output}`,
    ].join("\n") + "\n",
  );
  return file;
}

interface PlannedJob {
  key: string;
  label: string;
  done: boolean;
}
async function planned(config: string, set: string[] = []): Promise<PlannedJob[]> {
  const r = await cli(["--json", "plan", config, ...set]);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!).value.jobs as PlannedJob[];
}

/** Every finished job's record files, to prove a failed run left them exactly as they were. */
function finishedState(output: string): Record<string, string> {
  const state: Record<string, string> = {};
  const jobs = join(output, "jobs");
  for (const key of existsSync(jobs) ? readdirSync(jobs) : []) {
    if (!existsSync(join(jobs, key, "done.json"))) continue;
    for (const name of ["done.json", "result.json", "job.json"]) state[`${key}/${name}`] = readFileSync(join(jobs, key, name), "utf8");
    const out = join(jobs, key, "out");
    for (const name of existsSync(out) ? readdirSync(out) : []) state[`${key}/out/${name}`] = String(statSync(join(out, name)).size);
  }
  return state;
}

beforeAll(async () => {
  const fixture = await callOp(sharedRuntime(), makeTestFixture, { out: join(dir, "fixture"), glue_tasks: ["sst2"], n_train: 8, n_eval: 8 });
  model = fixture.model;
  writeFileSync(join(dir, "train.csv"), "text,label\n" + rows(24));
  writeFileSync(join(dir, "eval.csv"), "text,label\n" + rows(12, 100));
  // The broken files: one problem each, at a known line.
  const lines = ("text,label\n" + rows(24)).split("\n");
  lines[3] = "caf\u00e9 good film,pos";
  writeFileSync(join(dir, "latin1.csv"), Buffer.from(lines.join("\n"), "latin1"));
  latin1Offset = Buffer.from(lines.slice(0, 3).join("\n") + "\ncaf", "latin1").length;
  writeFileSync(join(dir, "quote.csv"), "text,label\n" + rows(4) + '"an unclosed quote,pos\n' + rows(4));
  writeFileSync(join(dir, "bad.jsonl"), '{"text": "good film", "label": "pos"}\n{"text": "bad plot", "label": "neg"\n');
  writeFileSync(join(dir, "nan.csv"), "text,label\n" + rows(4) + "no label here,NaN\n" + rows(4, 10) + "empty label,\n" + rows(16, 20));
  writeFileSync(join(dir, "eval-unseen.csv"), "text,label\n" + rows(6, 100) + "a mixed film,neutral\n");
}, 300_000);

afterAll(() => {
  const lines = ["| input | exit | message |", "| --- | ---: | --- |", ...table.map((r) => `| ${r.input} | ${r.exit} | ${r.message.replaceAll("|", "\\|")} |`)];
  console.log(`bad-input cases, as measured:\n${lines.join("\n")}`);
  rmSync(dir, { recursive: true, force: true });
});

describe("bad input through the command line", () => {
  // Each case is its own CLI process (Python start-up included): independent cases run side by side.
  it("model folders: pickles refused unopened, missing folders and hub ids named, corrupt safetensors refused", async () => {
    const evil = join(dir, "evil");
    mkdirSync(evil);
    for (const name of readdirSync(model)) if (!name.endsWith(".safetensors")) copyFileSync(join(model, name), join(evil, name));
    const marker = join(dir, "pwned");
    writeFileSync(join(evil, "pytorch_model.bin"), maliciousPickle(marker));
    const missing = join(dir, "no-such-model");
    const truncated = copyModel(join(dir, "truncated"));
    const weights = join(truncated, "model.safetensors");
    truncateSync(weights, Math.floor(statSync(weights).size / 2));
    const withModel = (path: string, out: string) => train(files("train.csv"), out).map((a) => (a === model ? path : a));
    const [pickled, absent, hub, cut] = await Promise.all([
      cli(withModel(evil, "out-evil")),
      cli(withModel(missing, "out-missing")),
      cli(withModel("no-such-org/no-such-model", "out-hub"), { HF_HUB_OFFLINE: "1" }),
      cli(withModel(truncated, "out-truncated")),
    ]);

    expect(pickled.exitCode).toBe(2);
    const message = seen("train --model <folder with only a pickle pytorch_model.bin>", pickled);
    expect(message).toContain(`train: model.name_or_path: the model folder ${evil} holds its weights as pytorch_model.bin (a pickle), not safetensors`);
    expect(message).toMatch(/never loads pickles.*save_pretrained/);
    expect(existsSync(marker)).toBe(false);

    expect(absent.exitCode).toBe(2);
    expect(seen("train --model <folder that does not exist>", absent)).toBe(
      `train: model.name_or_path: the model folder ${missing} does not exist (a folder with config.json and model.safetensors is expected)`,
    );
    expect(hub.exitCode).toBe(2);
    expect(seen("train --model no-such-org/no-such-model (hub offline)", hub)).toMatch(
      /^train: model.name_or_path: 'no-such-org\/no-such-model' is not a local folder \(there is nothing at .*\), and the hub could not be reached/,
    );
    expect(cut.exitCode).toBe(2);
    expect(seen("train --model <folder with a truncated model.safetensors>", cut)).toBe(
      `train: model.name_or_path: ${weights} is not a valid safetensors file: its header cannot be read (the file is truncated or corrupt); download or save the model again`,
    );
    // Refused before the run claimed its folder: nothing half-written.
    for (const out of ["out-evil", "out-missing", "out-hub", "out-truncated"]) expect(existsSync(join(dir, out)), out).toBe(false);

    // The payload is live: unpickling a copy outside osrm does create its marker.
    const live = join(dir, "live-marker");
    writeFileSync(join(dir, "live.bin"), maliciousPickle(live));
    await cli(["python", "--", "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", join(dir, "live.bin")]);
    expect(existsSync(live)).toBe(true);
  });

  it("osrm train: a file that is not UTF-8, and NaN or empty labels (refused; dropped and counted when asked)", async () => {
    const [latin1, nan, dropped] = await Promise.all([
      cli(train(files("latin1.csv"), "out-latin1")),
      cli(train(files("nan.csv"), "out-nan")),
      cli(train(files("nan.csv"), "out-drop", ["--invalid-labels", "drop", "--max-train", "100"])),
    ]);
    expect(latin1.exitCode).toBe(2);
    expect(seen("train --train <latin-1 CSV>", latin1)).toMatch(
      new RegExp(`^train: task 'task': ${join(dir, "latin1.csv")} is not UTF-8 text: byte 0xe9 at byte offset ${latin1Offset} \\(line 4, byte 4 of the line\\) is not valid UTF-8\\. Re-encode the file as UTF-8`),
    );
    expect(nan.exitCode).toBe(2);
    expect(seen("train --train <CSV with labels NaN and empty>", nan)).toBe(
      `train: task 'task': ${join(dir, "nan.csv")} has 2 row(s) with an empty or NaN label in column 'label' (line 6, 11; the first holds 'NaN'). ` +
        `Fix or remove those rows, or set invalid_labels: drop on the task (osrm train --invalid-labels drop) to leave them out, counted`,
    );
    for (const out of ["out-latin1", "out-nan"]) expect(existsSync(join(dir, out)), out).toBe(false);

    expect(dropped.exitCode, dropped.stderr).toBe(0);
    table.push({ input: "train --train <CSV with labels NaN and empty> --invalid-labels drop", exit: dropped.exitCode, message: dropped.stdout.split("\n").find((l) => l.startsWith("dropped"))! });
    expect(dropped.stdout).toContain("dropped     2 train and 0 eval row(s) with an empty or NaN label");
    expect(JSON.parse(readFileSync(join(dir, "out-drop", "metrics.json"), "utf8"))).toMatchObject({ dropped_rows: { train: 2, eval: 0 }, train_examples: 24 });
    expect(JSON.parse(readFileSync(join(dir, "out-drop", "osrm_task.json"), "utf8"))).toMatchObject({ num_labels: 2, labels: ["neg", "pos"] });
  });

  it("a merge of adapters of different ranks names both adapters and the module", async () => {
    const runtime = sharedRuntime();
    const a = (await callOp(runtime, makeTestAdapter, { model, out: join(dir, "adapter-a"), task: "a", rank: 4 })).adapter;
    const b = (await callOp(runtime, makeTestAdapter, { model, out: join(dir, "adapter-b"), task: "b", rank: 8 })).adapter;
    const r = await cli(["merge", "-q", "--model", model, "--adapter", `a=${a}`, "--adapter", `b=${b}`, "--method", "task_arithmetic", "--out", join(dir, "merged")]);
    expect(r.exitCode).toBe(2);
    expect(seen("merge --adapter a=<rank 4> --adapter b=<rank 8>", r)).toContain(
      `'b' (${b}) has rank 8 at module 'encoder.layer.0.attention.self.query.weight' but 'a' (${a}) has rank 4`,
    );
    expect(existsSync(join(dir, "merged"))).toBe(false);
  });

  // One run, one broken file per task: each failure names its file and line, every job it kept
  // from starting is listed by name under it, and what could run finished and stays done.
  it("osrm run: broken data files, each failure named, every job not started listed by name, finished jobs kept", async () => {
    const output = join(dir, "run-broken");
    const broken: [string, string, string, RegExp][] = [
      ["b", "latin1.csv", "eval.csv", new RegExp(`task 'b': \\S+latin1\\.csv is not UTF-8 text: byte 0xe9 at byte offset ${latin1Offset} \\(line 4, byte 4 of the line\\)`)],
      ["c", "quote.csv", "eval.csv", /task 'c': \S+quote\.csv line 6: malformed CSV: a quoted field that starts on this line is never closed/],
      ["d", "bad.jsonl", "eval.csv", /task 'd': \S+bad\.jsonl line 2: not valid JSON \(.* at column \d+\); each line must be one JSON object/],
      ["e", "nan.csv", "eval.csv", /task 'e': \S+nan\.csv has 2 row\(s\) with an empty or NaN label in column 'label' \(line 6, 11; the first holds 'NaN'\)/],
      ["f", "train.csv", "eval-unseen.csv", /task 'f': \S+eval-unseen\.csv line 8 \(row 7\): label 'neutral' is not in the label set \['neg', 'pos'\], the labels of the training file \S+train\.csv .*training never saw: 'neutral'/],
    ];
    const config = runConfig("broken", output, [["a", "train.csv", "eval.csv"], ...broken.map(([t, tr, ev]) => [t, tr, ev] as [string, string, string])]);
    const r = await cli(["run", "-q", config]);
    expect(r.exitCode).toBe(2); // every failure is bad input
    const message = seen("run <6-task config: a good; b-f each with one broken file below>", r);
    const failures = new Map([...message.matchAll(/^failed: (.+?) \((\w+-\w+)\): (.*)$/gm)].map((m) => [m[1]!, m[3]!]));
    expect([...failures.keys()].sort()).toEqual(["stats b", "stats c", "stats d", "stats e", "train b gaussian", "train c gaussian", "train d gaussian", "train e gaussian", "train f gaussian"]);
    for (const [task, trainFile, evalFile, expected] of broken) {
      const job = task === "f" ? "train f gaussian" : `stats ${task}`;
      expect(failures.get(job), job).toMatch(expected);
      table.push({ input: `run, task ${task}: train ${trainFile}, eval ${evalFile} (job '${job}')`, exit: r.exitCode, message: failures.get(job)! });
    }
    // Every job that is neither done nor failed is listed, once, under what blocked it.
    const jobs = await planned(config);
    const notStarted = jobs.filter((j) => !j.done && !failures.has(j.label)).map((j) => j.label);
    const listed = [...message.matchAll(/not started because .*?\(\d+: (.+)\)$/gm)].flatMap((m) => m[1]!.split(", "));
    expect(listed.sort()).toEqual(notStarted.sort());
    expect(notStarted).toEqual(expect.arrayContaining(["init a", "train a osrm", "merge task_arithmetic gaussian", "report"]));
    // The report needs every failure fixed: it is listed under all of them.
    expect(message).toMatch(/^not started because stats b, .*train f gaussian failed \(\d+: .*\breport\b/m);
    // What could run did and is done; the library's text is in the failed job's log, not on screen.
    const done = jobs.filter((j) => j.done);
    expect(done.map((j) => j.label).sort()).toEqual(["stats a", "stats f", "train a gaussian"]);
    for (const job of done) expect(JSON.parse(readFileSync(join(output, "jobs", job.key, "done.json"), "utf8")).key).toBe(job.key);
    const log = readFileSync(join(output, "jobs", jobs.find((j) => j.label === "stats b")!.key, "log"), "utf8");
    expect(log).toContain("detail: builtins.UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9");
    expect(log).toContain("Traceback (most recent call last)");
  });

  it("a full disk fails the run clearly and leaves every finished job intact; a read-only one too", async (ctx) => {
    const mount = join(dir, "tmpfs");
    mkdirSync(mount);
    try {
      execaSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mount]);
    } catch (error) {
      console.log(`skipped the full-disk case: cannot mount a tmpfs here (${(error as Error).message.split("\n")[0]})`);
      ctx.skip();
      return;
    }
    try {
      const output = join(mount, "run");
      const config = runConfig("disk", output, [["a", "train.csv", "eval.csv"], ["b", "train.csv", "eval.csv"]], "[gaussian]");
      const first = await cli(["run", "-q", config]);
      expect(first.exitCode, first.stderr).toBe(0);
      const before = finishedState(output);
      const firstJobs = await planned(config);
      expect(firstJobs.every((j) => j.done)).toBe(true);
      expect(firstJobs.map((j) => j.label)).toEqual(expect.arrayContaining(["train a gaussian", "train b gaussian", "merge task_arithmetic gaussian", "report"]));
      const finishedKeys = firstJobs.map((j) => j.key);

      // Leave 32 KiB: the next run's first jobs fill it.
      const fs = statfsSync(mount);
      const filler = join(mount, "filler");
      const fd = openSync(filler, "w");
      const chunk = Buffer.alloc(1 << 20);
      let left = fs.bavail * fs.bsize - 32 * 1024;
      try {
        while (left > 0) left -= writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      } finally {
        closeSync(fd);
      }
      const osrm = ["--set", "init=[gaussian,osrm]"];
      const full = await cli(["run", "-q", config, ...osrm]);
      expect(full.exitCode).toBe(1);
      const message = seen("run <2-task config> --set init=[gaussian,osrm], on a full 16 MiB tmpfs", full);
      expect(message).toMatch(new RegExp(`failed: .+ \\(\\w+-\\w+\\): (\\w+: )?${output}/\\S+: no space left on the device \\(ENOSPC\\); free space there or choose another output folder`));
      expect(message).toContain("no more jobs were started after it");
      expect(finishedState(output)).toMatchObject(before);
      // `osrm plan` still shows them done: the first config's every job, the second's shared ones.
      expect((await planned(config)).every((j) => j.done)).toBe(true);
      const after = await planned(config, osrm);
      const shared = after.filter((j) => finishedKeys.includes(j.key));
      expect(shared.map((j) => j.label)).toEqual(expect.arrayContaining(["evaluate task_arithmetic gaussian", "merge task_arithmetic gaussian", "train a gaussian", "train b gaussian"]));
      expect(shared.every((j) => j.done)).toBe(true);

      // A read-only output folder: exit 2, named; still nothing finished is touched.
      rmSync(filler);
      execaSync("mount", ["-o", "remount,ro", mount]);
      const readOnly = await cli(["run", "-q", config, ...osrm]);
      execaSync("mount", ["-o", "remount,rw", mount]);
      expect(readOnly.exitCode).toBe(2);
      expect(seen("run <same>, output on a read-only tmpfs", readOnly)).toMatch(new RegExp(`${output}/\\S+: the file system is read-only \\(EROFS\\); choose an output folder you can write to`));
      expect(finishedState(output)).toMatchObject(before);

      // With space again the same command finishes what is left: the store was never damaged.
      const resumed = await cli(["run", "-q", config, ...osrm]);
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      expect((await planned(config, osrm)).every((j) => j.done)).toBe(true);
      expect(finishedState(output)).toMatchObject(before);
    } finally {
      execaSync("umount", [mount], { reject: false });
    }
  });
});
