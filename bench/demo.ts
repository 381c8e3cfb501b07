/**
 * `osrm demo` wall time, cold and warm, as a user runs it (the CLI in a child process).
 *   cold: a fresh per-user cache (so the Python runtime's environment is built, the demo task
 *         suite rebuilt from the npm packages) and a fresh run folder: everything the first
 *         `osrm demo` on a new machine does;
 *   warm: the same command again, every job done: planning, checks and the summary.
 * Bars: cold <= 15 minutes including the runtime setup, warm <= 60 s, on 2 CPU cores.
 * Run: npx tsx bench/demo.ts [--keep DIR] [--reuse-env]
 *   --keep DIR    keep the run folder in DIR (default: a temp folder, removed at the end)
 *   --reuse-env   use the existing runtime environment (cold then excludes the setup; said so)
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, packageRoot } from "../src/runtime/paths.ts";

const argument = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const reuseEnv = process.argv.includes("--reuse-env");
const work = mkdtempSync(join(tmpdir(), "osrm-bench-demo-"));
const output = argument("--keep") ?? join(work, "run");
// A fresh cache folder: the runtime environment (keyed by the requirements) and the demo suite
// are built again, as on a new machine. With --reuse-env the usual cache is used and only the
// suite is rebuilt.
const cache = reuseEnv ? cacheDir() : join(work, "cache");
rmSync(output, { recursive: true, force: true });
rmSync(join(cache, "demo-tasks"), { recursive: true, force: true });

function timed(label: string): { seconds: number; stdout: string } {
  const started = performance.now();
  const stdout = execFileSync(process.execPath, [join(packageRoot, "bin/osrm.js"), "demo", "--set", `output=${output}`], {
    cwd: packageRoot,
    encoding: "utf8",
    env: { ...process.env, OSRM_CACHE_DIR: cache },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label.padEnd(5)} ${seconds.toFixed(1).padStart(7)} s   (load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores)`);
  return { seconds, stdout };
}

const cold = timed("cold");
const warm = timed("warm");
console.log(`\n${cold.stdout.trim()}\n`);
const what = reuseEnv ? "excluding the runtime setup (--reuse-env)" : "including the runtime setup";
console.log(`cold ${cold.seconds.toFixed(1)} s, ${what} (bar 900 s): ${cold.seconds <= 900 ? "met" : "NOT met"}`);
console.log(`warm ${warm.seconds.toFixed(1)} s (bar 60 s): ${warm.seconds <= 60 ? "met" : "NOT met"}`);
if (!argument("--keep")) rmSync(work, { recursive: true, force: true });
else if (!reuseEnv) rmSync(cache, { recursive: true, force: true });
