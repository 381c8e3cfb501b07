import { execSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { RuntimeAbortedError, RuntimeDiedError, PythonError, OpNotAvailableError } from "../src/runtime/errors.ts";
import { BridgeRuntime } from "../src/runtime/bridge.ts";
import { ProcessRuntime } from "../src/runtime/process.ts";
import { sharedRuntime } from "./shared-runtime.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pythonChildrenOf(pid: number): number[] {
  const out = execSync(`ps -o pid= --ppid ${pid}`, { encoding: "utf8" }).trim();
  return out ? out.split("\n").map((s) => Number(s.trim())) : [];
}

describe("bridge runtime (pythonia)", () => {
  const runtime = sharedRuntime();

  it("round-trips 1,000 no-op calls sequentially", async () => {
    await runtime.call("noop");
    const started = performance.now();
    for (let i = 0; i < 1000; i += 1) await runtime.call("noop");
    const meanMs = (performance.now() - started) / 1000;
    console.log(`bridge no-op round trip: mean ${meanMs.toFixed(3)} ms over 1,000 calls`);
    expect(await runtime.call("echo", { nested: { list: [1, 2.5, "x"] } })).toEqual({ nested: { list: [1, 2.5, "x"] } });
  });

  it("turns a Python exception into a typed error with type, message and traceback", async () => {
    const error = await runtime.call("fail", { message: "the payload was wrong" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    const e = error as PythonError;
    expect(e.pythonType).toBe("RequestedFailure");
    expect(e.pythonMessage).toBe("the payload was wrong");
    expect(e.traceback).toContain("Traceback (most recent call last)");
    expect(e.traceback).toContain("testing/ops.py");
    expect(e.op).toBe("fail");
  });

  it("names an op that does not exist", async () => {
    const error = await runtime.call("no_such_op").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpNotAvailableError);
    expect((error as Error).message).toContain("not available");
  });

  it("reports progress events from Python", async () => {
    const events: { current?: number; total?: number }[] = [];
    await runtime.call("sleep", { seconds: 0.5 }, { onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThan(1);
    expect(events.at(-1)).toMatchObject({ current: 10, total: 10 });
  });

  it("fails a crashing call in under 5 s, then serves the next call from a fresh process", async () => {
    const before = await runtime.pid();
    const started = performance.now();
    const error = await runtime.call("crash", { how: "segfault" }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(RuntimeDiedError);
    expect((error as Error).message).toContain("died during 'crash'");
    expect(elapsed).toBeLessThan(5000);
    expect(await runtime.call("echo", { again: true })).toEqual({ again: true });
    expect(await runtime.pid()).not.toBe(before);
    // The fresh process can still call back into JavaScript (progress).
    const events: unknown[] = [];
    await runtime.call("sleep", { seconds: 0.2 }, { onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThan(0);
  });

  it("stops the Python work on abort and leaves no Python process behind", async () => {
    const pid = await runtime.pid();
    const controller = new AbortController();
    const call = runtime.call("sleep", { seconds: 30 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(call).rejects.toBeInstanceOf(RuntimeAbortedError);
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(pid)).toBe(false);
    expect(pythonChildrenOf(process.pid)).not.toContain(pid);
    expect(await runtime.call("echo", { n: 7 })).toEqual({ n: 7 });
    const events: unknown[] = [];
    await runtime.call("sleep", { seconds: 0.2 }, { onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThan(0);
  });

  it("closes cleanly: no Python process remains after close()", async () => {
    const own = new BridgeRuntime();
    const pid = await own.pid();
    expect(alive(pid)).toBe(true);
    await own.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(pid)).toBe(false);
  });

  it("prints nothing when Node exits without closing it (no pythonia finaliser tracebacks)", () => {
    // A program that ends without close(): Python sees its channel close while it still holds the
    // proxy of the progress callback. pythonia used to print a SystemExit traceback per proxy then.
    const script = [
      'import { BridgeRuntime } from "./src/runtime/bridge.ts";',
      "const runtime = new BridgeRuntime();",
      'await runtime.call("sleep", { seconds: 0.2 }, { onProgress: () => {} });',
      'console.log("called");',
      "process.exit(0);",
    ].join("\n");
    const child = spawnSync("npx", ["--no-install", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(child.stdout).toContain("called");
    expect(child.stderr).not.toMatch(/Traceback|Exception ignored/);
    expect(child.status).toBe(0);
  });
});

describe("process runtime (python -m osrm_runtime)", () => {
  const runtime = new ProcessRuntime();

  it("returns values and streams progress", async () => {
    const events: unknown[] = [];
    const value = await runtime.call<{ slept: number }>("sleep", { seconds: 0.3 }, { onProgress: (e) => events.push(e) });
    expect(value.slept).toBe(0.3);
    expect(events.length).toBeGreaterThan(0);
  });

  it("carries Python exceptions as typed errors", async () => {
    const error = await runtime.call("fail", { message: "bad" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonType).toBe("RequestedFailure");
  });

  it("reports a crash as a dead runtime", async () => {
    const error = await runtime.call("crash", { how: "kill" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeDiedError);
    expect((error as RuntimeDiedError).signal).toBe("SIGKILL");
  });

  it("kills the worker on abort", async () => {
    const controller = new AbortController();
    const call = runtime.call<{ pid: number }>("sleep", { seconds: 30 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 1500);
    await expect(call).rejects.toBeInstanceOf(RuntimeAbortedError);
    await new Promise((r) => setTimeout(r, 300));
    const leftovers = execSync("ps -eo args", { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("osrm_runtime sleep"));
    expect(leftovers).toEqual([]);
  });
});
