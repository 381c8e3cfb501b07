/** Every op the Python runtime offers, by name: what the runner, the commands and `npm run contract` read. */
import { buildDemoTasks } from "./build-demo-tasks.ts";
import { collectStats } from "./collect-stats.ts";
import { diagnose } from "./diagnose.ts";
import { exportTask } from "./export.ts";
import { evaluate, merge, mergeMethods } from "./merge.ts";
import type { Op } from "./op.ts";
import { osrmInit } from "./osrm-init.ts";
import { plotReport } from "./plot-report.ts";
import { envInfo, noop } from "./runtime-info.ts";
import { crash, echo, fail, makeTestAdapter, makeTestFixture, parsePayload, sleep } from "./testing.ts";
import { train } from "./train.ts";
import { transform } from "./transform.ts";

export const OPS: readonly Op[] = [
  noop,
  envInfo,
  collectStats,
  osrmInit,
  train,
  transform,
  diagnose,
  merge,
  evaluate,
  exportTask,
  mergeMethods,
  plotReport,
  buildDemoTasks,
  echo,
  fail,
  crash,
  sleep,
  makeTestFixture,
  makeTestAdapter,
  parsePayload,
];

export function opNamed(name: string): Op {
  const op = OPS.find((o) => o.name === name);
  if (!op) throw new Error(`no op '${name}' in src/ops (known: ${OPS.map((o) => o.name).join(", ")})`);
  return op;
}
