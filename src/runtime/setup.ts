/**
 * The Python runtime's environment: a virtual environment for python/requirements.txt in the
 * per-user cache, keyed by the requirements' hash, or an interpreter the user names with
 * OSRM_PYTHON. A ready marker is written last, so an install that was killed or failed is never
 * used half-built: the next setup removes it and builds again.
 */
import { execa } from "execa";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../store/atomic.ts";
import { processAlive } from "../store/lock.ts";
import { RuntimeSetupError } from "./errors.ts";
import { REQUIREMENT_FILES, requirementsFile, requirementsHash, venvDir, venvPython } from "./paths.ts";
import type { ProgressEvent } from "./protocol.ts";

export const READY_MARKER = ".osrm-ready";
/** Modules the runtime cannot work without; checked in any interpreter before it is used. */
export const REQUIRED_MODULES = ["torch", "transformers", "peft", "safetensors", "numpy"];

export interface RuntimeEnv {
  python: string;
  source: "OSRM_PYTHON" | "venv";
  venv?: string;
}

export interface EnsureOptions {
  onProgress?: (event: ProgressEvent) => void;
  /** Remove a ready environment and build it again. */
  force?: boolean;
  /** Requirement files installed together (default: the runtime's and the tests'). */
  requirements?: readonly string[];
  dir?: string;
  /** Modules the finished environment must import (the runtime's own by default). */
  requiredModules?: string[];
  signal?: AbortSignal;
}

const progress = (opts: EnsureOptions, task: string, message: string, current?: number, total?: number) =>
  opts.onProgress?.({ op: "setup", task, message, current, total });

/** The interpreter the runtime uses, creating the environment first when needed. */
export async function ensureRuntime(opts: EnsureOptions = {}): Promise<RuntimeEnv> {
  const own = process.env.OSRM_PYTHON;
  if (own) {
    await checkInterpreter(own, "OSRM_PYTHON");
    return { python: own, source: "OSRM_PYTHON" };
  }
  const dir = opts.dir ?? venvDir();
  if (!opts.force && isReady(dir)) return { python: venvPython(dir), source: "venv", venv: dir };
  await withInstallLock(dir, opts, async () => {
    if (!opts.force && isReady(dir)) return; // another process finished it while we waited
    await buildVenv(dir, opts);
  });
  return { python: venvPython(dir), source: "venv", venv: dir };
}

export function isReady(dir = venvDir()): boolean {
  return existsSync(join(dir, READY_MARKER)) && existsSync(venvPython(dir));
}

async function buildVenv(dir: string, opts: EnsureOptions): Promise<void> {
  const requirements = opts.requirements ?? REQUIREMENT_FILES;
  if (existsSync(dir)) {
    progress(opts, "setup", existsSync(join(dir, READY_MARKER)) ? "rebuilding (--force)" : "removing an unfinished install");
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dirname(dir), { recursive: true });
  const base = await findBasePython();
  progress(opts, "setup", `creating a virtual environment with ${base}`);
  await run(base, ["-m", "venv", dir], opts);
  const total = requirements.reduce((n, file) => n + countRequirements(file), 0);
  let collected = 0;
  progress(opts, "install", "installing the pinned requirements", 0, total);
  const pip = execa(venvPython(dir), ["-m", "pip", "install", "--progress-bar", "off", ...requirements.flatMap((file) => ["-r", file])], {
    env: pipEnvironment(),
    cancelSignal: opts.signal,
    all: true,
    reject: false,
  });
  let tail = "";
  pip.all?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    for (const line of text.split("\n")) {
      const m = /^(Collecting|Processing|Requirement already satisfied:?)\s+(\S+)/.exec(line.trim());
      if (m) {
        collected += 1;
        progress(opts, "install", `collected ${m[2]}`, collected, Math.max(total, collected));
      } else if (line.startsWith("Installing collected packages")) {
        progress(opts, "install", "installing the collected packages", total, total);
      }
    }
  });
  const result = await pip;
  if (result.isCanceled) throw new RuntimeSetupError("setup was aborted; the next run rebuilds the environment");
  if (result.exitCode !== 0) {
    throw new RuntimeSetupError(
      `pip could not install ${requirements.join(" and ")} (exit ${result.exitCode}); the unfinished environment ` +
        `will be rebuilt next time.\n${tail.trim().split("\n").slice(-15).join("\n")}`,
    );
  }
  await checkInterpreter(venvPython(dir), "the new environment", opts.requiredModules);
  writeFileAtomic(
    join(dir, READY_MARKER),
    JSON.stringify({ requirementsHash: requirementsHash(requirements), readyAt: new Date().toISOString() }) + "\n",
  );
  progress(opts, "setup", `ready: ${dir}`);
}

/**
 * pip retries an unreachable index five times with back-off for every package, which turned a
 * one-minute install into six on machines whose only reachable indexes are local mirrors. One
 * retry keeps installs from PyPI robust and fails fast elsewhere. The user's own settings win.
 */
export function pipEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PIP_RETRIES: process.env.PIP_RETRIES ?? "1",
    PIP_TIMEOUT: process.env.PIP_TIMEOUT ?? "20",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
  };
}

function countRequirements(file: string): number {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#")).length;
}

async function findBasePython(): Promise<string> {
  const candidates = [process.env.OSRM_BASE_PYTHON, "python3", "python"].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    const r = await execa(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { reject: false });
    if (r.exitCode === 0) {
      const [major, minor] = String(r.stdout).trim().split(".").map(Number);
      if (major === 3 && (minor ?? 0) >= 10) return candidate;
    }
  }
  throw new RuntimeSetupError(
    "no Python 3.10 or newer found (tried OSRM_BASE_PYTHON, python3, python). Install one, or point " +
      "OSRM_PYTHON at an interpreter that already has torch, transformers and peft.",
  );
}

/** Fails with the list of missing modules and the command that fixes it. */
export async function checkInterpreter(python: string, what: string, modules = REQUIRED_MODULES): Promise<void> {
  const code = [
    "import importlib.util, json",
    `mods = ${JSON.stringify(modules)}`,
    "print(json.dumps([m for m in mods if importlib.util.find_spec(m) is None]))",
  ].join("\n");
  const r = await execa(python, ["-c", code], { reject: false });
  if (r.exitCode !== 0 || r.failed) {
    throw new RuntimeSetupError(`${what} (${python}) does not run: ${String(r.stderr || r.message).trim()}`);
  }
  const missing = JSON.parse(String(r.stdout).trim().split("\n").pop() ?? "[]") as string[];
  if (missing.length) {
    throw new RuntimeSetupError(
      `${what} (${python}) lacks ${missing.join(", ")}. Fix: ${python} -m pip install -r ${requirementsFile}`,
    );
  }
}

async function run(cmd: string, args: string[], opts: EnsureOptions): Promise<void> {
  const r = await execa(cmd, args, { reject: false, all: true, cancelSignal: opts.signal });
  if (r.exitCode !== 0) throw new RuntimeSetupError(`${cmd} ${args.join(" ")} failed:\n${String(r.all).trim()}`);
}

/** One installer at a time per environment: a lock folder holding the owner's pid. */
async function withInstallLock(dir: string, opts: EnsureOptions, work: () => Promise<void>): Promise<void> {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let waited = 0; ; waited += 1) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const owner = Number(readFileSafe(join(lock, "pid")));
      if (!owner || !processAlive(owner)) {
        rmSync(lock, { recursive: true, force: true }); // its installer died: take over
        continue;
      }
      if (waited === 0) progress(opts, "setup", `waiting for another setup (pid ${owner}) to finish`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
