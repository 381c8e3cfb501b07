/**
 * `osrm demo` wall time, cold and cached, as a user runs it (the CLI in a child process).
 *   cold:   a fresh run folder and no demo task suite in the cache (it is rebuilt from the npm
 *           packages); the Python environment is ready (setup is excluded, as the bar says);
 *   cached: the same command again, every job done: planning, checks and the summary.
 * Bars (issue 7): cold <= 10 minutes, cached <= 1 minute, on 2 CPU cores.
 * Run: npx tsx bench/demo.ts [--keep DIR]   (DIR keeps the run folder; default: a temp folder)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir, packageRoot } from "../src/runtime/paths.ts";
import { ensureRuntime } from "../src/runtime/setup.ts";

const keep = process.argv.indexOf("--keep");
const output = keep > 0 ? process.argv[keep + 1]! : join(mkdtempSync(join(tmpdir(), "osrm-bench-demo-")), "run");
await ensureRuntime();
rmSync(output, { recursive: true, force: true });
rmSync(join(cacheDir(), "demo-tasks"), { recursive: true, force: true });

function timed(label: string): { seconds: number; stdout: string } {
  const started = performance.now();
  const stdout = execFileSync(process.execPath, [join(packageRoot, "bin/osrm.js"), "demo", "--set", `output=${output}`], {
    cwd: packageRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label.padEnd(8)} ${seconds.toFixed(1).padStart(7)} s`);
  return { seconds, stdout };
}

const cold = timed("cold");
const cached = timed("cached");
console.log(`\n${cold.stdout.trim()}\n`);
console.log(`cold ${cold.seconds.toFixed(1)} s (bar 600 s): ${cold.seconds <= 600 ? "met" : "NOT met"}`);
console.log(`cached ${cached.seconds.toFixed(1)} s (bar 60 s): ${cached.seconds <= 60 ? "met" : "NOT met"}; ratio cold/cached ${(cold.seconds / cached.seconds).toFixed(1)}x`);
if (keep < 0) rmSync(output, { recursive: true, force: true });
