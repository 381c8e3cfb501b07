import { execa } from "execa";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../src/runtime/paths.ts";

const cli = (...args: string[]) =>
  execa("node", [join(packageRoot, "bin/osrm.js"), ...args], { reject: false, cwd: packageRoot, env: { FORCE_COLOR: "0" } });

describe("osrm command line", () => {
  it("lists every command with one line each and prints its version", async () => {
    const help = await cli("--help");
    expect(help.exitCode).toBe(0);
    for (const command of ["setup", "doctor", "python"]) expect(help.stdout).toMatch(new RegExp(`\\n\\s+${command}\\b.*\\S`));
    const version = await cli("--version");
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("exits 2 on bad usage and names the problem", async () => {
    const r = await cli("no-such-command");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown command");
    const flag = await cli("setup", "--no-such-flag");
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toContain("--no-such-flag");
  });

  it("doctor --json reports the torch version and whether CUDA is available", async () => {
    const r = await cli("doctor", "--json");
    expect(r.exitCode).toBe(0);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    const report = JSON.parse(line).value;
    expect(report.python.torch.version).toMatch(/^2\./);
    expect(typeof report.python.torch.cuda_available).toBe("boolean");
    expect(report.python.packages.peft).toBeTruthy();
    expect(report.problems).toEqual([]);
  });

  it("setup a second time is a no-op: no pip, no progress beyond the ready environment", async () => {
    await cli("setup", "--json");
    const started = performance.now();
    const r = await cli("setup", "--json");
    // Printed, not asserted: tests never time things (a loaded machine would fail them).
    console.log(`osrm setup on a ready environment: ${((performance.now() - started) / 1000).toFixed(2)} s (whole CLI process)`);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; message?: string; value?: { source: string } });
    expect(lines.pop()!.value!.source).toMatch(/venv|OSRM_PYTHON/);
    expect(lines.filter((l) => l.type === "progress" && /install|creating/.test(l.message ?? ""))).toEqual([]);
  });
});
