/**
 * The config's merge methods (src/config/schema/merge-methods.ts) mirror the Python registry
 * (python/osrm_runtime/merge/registry.py, described by the `merge_methods` op). This fails when
 * they drift apart: a name, a hyperparameter, a default or a range changed on one side only.
 */
import { describe, expect, it } from "vitest";
import { MERGE_METHODS } from "../src/config/schema/merge-methods.ts";
import { sharedRuntime } from "./shared-runtime.ts";

interface PythonHyperparameter {
  name: string;
  type: "float" | "int" | "choice";
  default: unknown;
  choices?: unknown[];
  min?: number | null;
  max?: number | null;
  exclusive_min?: boolean;
  exclusive_max?: boolean;
  nullable: boolean;
}
interface PythonMethod {
  name: string;
  hyperparameters: PythonHyperparameter[];
  needs_data: string[];
}

describe("merge methods", () => {
  it("match the Python registry: names, hyperparameters, defaults, ranges, data needs", async () => {
    const { methods } = await sharedRuntime().call<{ methods: PythonMethod[] }>("merge_methods");
    expect(MERGE_METHODS.map((m) => m.name)).toEqual(methods.map((m) => m.name));
    for (const python of methods) {
      const ours = MERGE_METHODS.find((m) => m.name === python.name)!;
      expect([...ours.hyperparameters].sort(), python.name).toEqual(python.hyperparameters.map((h) => h.name).sort());
      expect(ours.needsData, python.name).toBe(python.needs_data.length > 0);
      const defaults = ours.schema.parse({ name: python.name }) as Record<string, unknown>;
      for (const h of python.hyperparameters) {
        const where = `${python.name}.${h.name}`;
        expect(defaults[h.name], where).toEqual(h.default);
        const accepts = (value: unknown) => ours.schema.safeParse({ name: python.name, [h.name]: value }).success;
        if (h.type === "choice") {
          for (const choice of h.choices!) expect(accepts(choice), where).toBe(true);
          expect(accepts("not-a-choice"), where).toBe(false);
          continue;
        }
        expect(accepts(null), `${where} null`).toBe(h.nullable);
        if (typeof h.max === "number") {
          expect(accepts(h.max + 1), `${where} above max`).toBe(false);
          // lambda is kept > 0 here on purpose (lambda 0 merges nothing); other bounds agree exactly.
          expect(accepts(h.max), `${where} at max`).toBe(!h.exclusive_max);
        }
        if (typeof h.min === "number") {
          expect(accepts(h.min - 1), `${where} below min`).toBe(false);
          expect(accepts(h.min), `${where} at min`).toBe(!h.exclusive_min && h.name !== "lambda");
        }
        if (h.type === "int") expect(accepts((h.default as number) + 0.5), `${where} integer`).toBe(false);
      }
    }
  });
});
