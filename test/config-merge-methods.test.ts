/**
 * The merge methods TypeScript knows are the Python registry's (python/osrm_runtime/merge/registry.py,
 * described by the `merge_methods` op): src/ops/merge-methods.json is generated from it, and the
 * config's schemas are built from that file. This fails when the file is stale.
 */
import { describe, expect, it } from "vitest";
import { MERGE_METHODS, MERGE_METHOD_SPECS, methodDisplayName } from "../src/config/schema/merge-methods.ts";
import { Merge } from "../src/config/schema/merge.ts";
import { mergeMethods } from "../src/ops/merge.ts";
import { callOp } from "../src/ops/op.ts";
import { sharedRuntime } from "./shared-runtime.ts";

describe("merge methods", () => {
  it("are exactly the Python registry's: names, display names, hyperparameters, defaults, ranges", async () => {
    const registry = await callOp(sharedRuntime(), mergeMethods, {});
    expect(MERGE_METHODS).toEqual(registry.methods);
    expect(MERGE_METHODS.map((m) => m.name)).toContain("knots_dare_ties");
    expect(methodDisplayName("core_space_ta")).toBe("Core Space-TA");
  });

  it("validate a config's methods with the registry's ranges and defaults", () => {
    for (const spec of MERGE_METHOD_SPECS) {
      const parsed = Merge.parse({ methods: [spec.name] }).methods[0]!;
      for (const h of spec.hyperparameters) expect(parsed[h.name], `${spec.name}.${h.name}`).toEqual(h.default);
      const bounded = spec.hyperparameters.find((h) => typeof h.max === "number");
      if (bounded) {
        const bad = Merge.safeParse({ methods: [{ name: spec.name, [bounded.name]: bounded.max! + 1 }] });
        expect(bad.success, `${spec.name}.${bounded.name} = max + 1`).toBe(false);
      }
    }
    expect(Merge.safeParse({ methods: [{ name: "ties", lambda: 0 }] }).success).toBe(false); // lambda 0 merges nothing
    expect(Merge.safeParse({ methods: [{ name: "task_arithmetic", density: 0.5 }] }).success).toBe(false);
  });
});
