import { execa } from "execa";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot, venvPython } from "../src/runtime/paths.ts";
import { ensureRuntime, isReady, READY_MARKER } from "../src/runtime/setup.ts";
import { RuntimeSetupError } from "../src/runtime/errors.ts";

// A tiny requirements file from the local indexes keeps these tests to seconds; the mechanism
// (marker written last, half-built environments rebuilt) is the same as for the real one.
const work = mkdtempSync(join(tmpdir(), "osrm-setup-test-"));
const requirements = join(work, "requirements.txt");
writeFileSync(requirements, "six\n");
afterAll(() => rmSync(work, { recursive: true, force: true }));

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("runtime setup", () => {
  it("rebuilds an install that was killed midway, and never uses it half-built", async () => {
    const dir = join(work, "venv-killed");
    const script = join(work, "install.mts");
    writeFileSync(
      script,
      `import { ensureRuntime } from ${JSON.stringify(join(packageRoot, "src/runtime/setup.ts"))};\n` +
        `await ensureRuntime({ dir: ${JSON.stringify(dir)}, requirements: [${JSON.stringify(requirements)}], requiredModules: ["six"] });\n`,
    );
    const child = execa("node", ["--import", "tsx", script], { reject: false, cwd: packageRoot, env: { OSRM_PYTHON: "" } });
    // Kill it once the environment folder exists but before it was marked ready.
    for (let i = 0; i < 400 && !existsSync(venvPython(dir)); i += 1) await wait(50);
    child.kill("SIGKILL");
    await child;
    expect(existsSync(dir)).toBe(true);
    expect(isReady(dir)).toBe(false);
    writeFileSync(join(dir, "left-by-the-killed-install"), "");

    const env = await ensureRuntime({ dir, requirements: [requirements], requiredModules: ["six"] });
    expect(isReady(dir)).toBe(true);
    expect(existsSync(join(dir, "left-by-the-killed-install"))).toBe(false);
    expect(existsSync(join(dir, READY_MARKER))).toBe(true);
    const r = await execa(env.python, ["-c", "import six; print(six.__version__)"]);
    expect(r.stdout).toMatch(/^\d/);
  }, 180_000);

  it("uses a ready environment without running pip again", async () => {
    const dir = join(work, "venv-killed");
    const started = performance.now();
    await ensureRuntime({ dir, requirements: [requirements], requiredModules: ["six"] });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("checks an OSRM_PYTHON interpreter and names what it lacks with the fix", async () => {
    const previous = process.env.OSRM_PYTHON;
    process.env.OSRM_PYTHON = venvPython(join(work, "venv-killed"));
    try {
      const error = await ensureRuntime().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeSetupError);
      expect((error as Error).message).toMatch(/lacks torch, transformers, peft, safetensors, numpy.*Fix: .* -m pip install -r/s);
    } finally {
      if (previous === undefined) delete process.env.OSRM_PYTHON;
      else process.env.OSRM_PYTHON = previous;
    }
  });
});
