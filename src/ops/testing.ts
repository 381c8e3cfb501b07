/**
 * Test-only ops (python/osrm_runtime/testing): the boundary's own tests and the fixtures the
 * integration tests build tiny real models with. A production runtime does not register them.
 */
import { z } from "zod";
import { defineOp } from "./op.ts";

export const echo = defineOp({
  name: "echo",
  summary: "return the payload",
  payload: z.record(z.string(), z.unknown()).meta({ "x-python": "mapping" }),
  result: z.unknown(),
  testing: true,
});

export const fail = defineOp({
  name: "fail",
  summary: "raise RequestedFailure with the message",
  payload: z.strictObject({ message: z.string().default("failure requested by the caller") }),
  result: z.null(),
  testing: true,
});

export const crash = defineOp({
  name: "crash",
  summary: "end the process without a word (exit, SIGSEGV or SIGKILL), as a native crash or OOM kill would",
  payload: z.strictObject({ how: z.enum(["exit", "segfault", "kill"]).default("exit"), code: z.int().default(3) }),
  result: z.null(),
  testing: true,
});

export const sleep = defineOp({
  name: "sleep",
  summary: "sleep in small steps, reporting progress",
  payload: z.strictObject({ seconds: z.number().nonnegative().default(1) }),
  result: z.strictObject({ pid: z.int(), slept: z.number() }),
  testing: true,
});

export const makeTestFixture = defineOp({
  name: "make_test_fixture",
  summary: "a tiny random model of a family with a real tokenizer, and GLUE-format folders with a learnable signal",
  payload: z.strictObject({
    out: z.string().min(1),
    family: z.enum(["roberta", "bert", "t5", "llama", "gpt2"]).default("roberta"),
    glue_tasks: z.array(z.enum(["sst2", "mrpc", "stsb", "cola", "rte"])).default(["sst2", "mrpc", "stsb"]),
    hidden: z.int().positive().default(32),
    layers: z.int().positive().default(2),
    n_train: z.int().positive().default(200),
    n_eval: z.int().positive().default(80),
    seed: z.int().nonnegative().default(0),
  }),
  result: z.strictObject({ model: z.string(), glue_dir: z.string() }),
  testing: true,
});

export const makeTestAdapter = defineOp({
  name: "make_test_adapter",
  summary: "a PEFT SEQ_CLS adapter with random non-zero B and head, and osrm_task.json",
  payload: z.strictObject({
    model: z.string().min(1),
    out: z.string().min(1),
    task: z.string().min(1),
    num_labels: z.int().positive().default(2),
    rank: z.int().positive().default(4),
    alpha: z.number().positive().default(8),
    target_modules: z.array(z.string()).min(1).default(["query", "value"]),
    seed: z.int().nonnegative().default(0),
    b_scale: z.number().positive().default(0.05),
    metric: z.string().default("accuracy"),
  }),
  result: z.strictObject({ adapter: z.string() }),
  testing: true,
});

/** The payload the contract test gives Python to see which defaults arrive there. */
export const parsePayload = defineOp({
  name: "parse_payload",
  summary: "the typed payload object Python builds for an op's payload (defaults filled), as JSON",
  payload: z.strictObject({ op: z.string().min(1), payload: z.record(z.string(), z.unknown()).meta({ "x-python": "mapping" }) }),
  result: z.unknown(),
  testing: true,
});
