/**
 * One contract between TypeScript and Python: the files generated from the ops' zod schemas are
 * current, both registries list the same ops, a default changed in a zod schema is the default
 * Python fills in, and a payload Python refuses names the op and field (exit code 2) while the
 * runtime goes on serving.
 */
import { execa } from "execa";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { TrainingSetting } from "../src/config/schema/training.ts";
import { contractDocument, schemaFileText } from "../src/ops/contract-files.ts";
import { OPS } from "../src/ops/index.ts";
import { checkPayload, defineOp } from "../src/ops/op.ts";
import { parsePayload } from "../src/ops/testing.ts";
import { train } from "../src/ops/train.ts";
import { CONTRACT_FILES, generatedContract } from "../src/ops/write-contract.ts";
import { PythonError } from "../src/runtime/errors.ts";
import { packageRoot } from "../src/runtime/paths.ts";
import { ProcessRuntime } from "../src/runtime/process.ts";
import { sharedRuntime } from "./shared-runtime.ts";
import { readFileSync } from "node:fs";

const minimalTrain = {
  model: { name_or_path: "some/model" },
  task: { name: "rte", source: { kind: "glue", task: "rte" } },
  out: "/tmp/never-written",
};

describe("the TypeScript <-> Python contract", () => {
  it("is generated from the zod schemas, and the committed files are current", () => {
    const texts = generatedContract();
    for (const [key, rel] of Object.entries(CONTRACT_FILES) as [keyof typeof CONTRACT_FILES, string][]) {
      expect(readFileSync(join(packageRoot, rel), "utf8"), `${rel} is stale: run npm run contract`).toBe(texts[key]);
    }
    expect(generatedContract()).toEqual(texts); // deterministic
  });

  it("lists the same ops on both sides", async () => {
    const code = "import json; from osrm_runtime.registry import OPS, TESTING_OPS; print(json.dumps([sorted(OPS), sorted(TESTING_OPS)]))";
    const r = await execa("node", [join(packageRoot, "bin/osrm.js"), "python", "--", "-c", code]);
    const [production, testing] = JSON.parse(r.stdout.trim().split("\n").pop()!) as [string[], string[]];
    expect(production).toEqual(OPS.filter((o) => !o.testing).map((o) => o.name).sort());
    expect(testing).toEqual(OPS.filter((o) => o.testing).map((o) => o.name).sort());
  });

  it("delivers a default changed in a zod schema to Python, where it fills the payload", async () => {
    // The train op with one default changed: training.epochs 10 -> 7.
    const changed = defineOp({
      ...train,
      payload: train.payload.extend({ training: TrainingSetting.extend({ epochs: z.int().positive().default(7) }).prefault({}) }),
    });
    const dir = mkdtempSync(join(tmpdir(), "osrm-contract-"));
    const schema = join(dir, "schema.json");
    writeFileSync(schema, schemaFileText(contractDocument([changed, parsePayload])));
    const python = new ProcessRuntime({ env: { OSRM_CONTRACT_SCHEMA: schema } });
    const filled = (await python.call("parse_payload", { op: "train", payload: minimalTrain })) as { training: { epochs: number }; lora: { rank: number } };
    expect(filled.training.epochs).toBe(7);
    expect(checkPayload(changed, minimalTrain).training.epochs).toBe(7); // the same default on both sides
    // ...and with the committed contract, the schema's real default.
    const real = (await sharedRuntime().call("parse_payload", { op: "train", payload: minimalTrain })) as typeof filled;
    expect(real.training.epochs).toBe(checkPayload(train, minimalTrain).training.epochs);
    expect(real.training.epochs).toBe(10);
    expect(real.lora.rank).toBe(8);
  });

  it("is enforced by Python: a bad payload names the op and the field, exit code 2, and the runtime serves on", async () => {
    const runtime = sharedRuntime();
    const error = await runtime.call("train", { ...minimalTrain, training: { lr: -1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).message).toBe("train: training.lr: must be > 0, got -1");
    expect((error as PythonError).exitCode).toBe(2);
    expect(await runtime.call("noop")).toBeNull();
    const unknown = await runtime.call("collect_stats", { cache_dir: "x", model: { name_or_path: "m" }, task: minimalTrain.task, sampels: 3 }).catch((e: unknown) => e);
    expect((unknown as Error).message).toMatch(/^collect_stats: the payload: unknown key 'sampels'; known: batch_size, blocks, cache_dir/);

    const worker = new ProcessRuntime();
    const refused = await worker.call("train", { ...minimalTrain, lora: { rank: 0 } }).catch((e: unknown) => e);
    expect((refused as PythonError).message).toBe("train: lora.rank: must be > 0, got 0");
    expect((refused as PythonError).exitCode).toBe(2);
  });

  it("checks every op's payload in TypeScript before a call, and every op has one", () => {
    expect(() => checkPayload(train, { ...minimalTrain, training: { warmup_ratio: 1 } })).toThrow(/^train: training\.warmup_ratio: /);
    expect(new Set(OPS.map((o) => o.name)).size).toBe(OPS.length);
  });
});
