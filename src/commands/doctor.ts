import { execa } from "execa";
import { existsSync } from "node:fs";
import { isReady } from "../runtime/setup.ts";
import { requirementsFile, venvDir, venvPython } from "../runtime/paths.ts";
import { envInfo, type EnvInfo } from "../ops/runtime-info.ts";
import { checkResult } from "../ops/op.ts";
import type { CommandRegistrar } from "./context.ts";

export interface DoctorReport {
  node: string;
  runtime: { source: "OSRM_PYTHON" | "venv"; python: string; venv?: string; ready: boolean };
  python?: EnvInfo;
  problems: { what: string; fix: string }[];
}

const REQUIRED = ["torch", "transformers", "peft", "safetensors", "numpy"];

/** Inspects the runtime without building it: doctor must work when setup has not run. */
export async function diagnose(runtimeCall: (python: string) => Promise<EnvInfo>): Promise<DoctorReport> {
  const own = process.env.OSRM_PYTHON;
  const python = own ?? venvPython();
  const runtime = own
    ? { source: "OSRM_PYTHON" as const, python, ready: existsSync(python) }
    : { source: "venv" as const, python, venv: venvDir(), ready: isReady() };
  const report: DoctorReport = { node: process.version, runtime, problems: [] };
  if (!runtime.ready) {
    report.problems.push(
      own
        ? { what: `OSRM_PYTHON=${own} does not exist`, fix: "point OSRM_PYTHON at a Python interpreter, or unset it" }
        : { what: "the Python runtime is not set up", fix: "npx osrm setup" },
    );
    return report;
  }
  try {
    report.python = await runtimeCall(python);
  } catch (e) {
    report.problems.push({ what: `${python} failed: ${(e as Error).message}`, fix: "npx osrm setup --force" });
    return report;
  }
  for (const name of REQUIRED) {
    if (!report.python.packages[name]) {
      report.problems.push({ what: `${name} is missing`, fix: `${python} -m pip install -r ${requirementsFile}` });
    }
  }
  return report;
}

/** Two columns, the labels padded to the longest one (package names such as transformers included). */
function columns(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => (label ? label.padEnd(width) : " ".repeat(width)) + value).join("\n");
}

export function formatDoctorReport(report: DoctorReport): string {
  const rows: [string, string][] = [["node", report.node], ["runtime", `${report.runtime.source}: ${report.runtime.python}`]];
  if (report.runtime.venv) rows.push(["env", `${report.runtime.venv}${report.runtime.ready ? "" : " (not built)"}`]);
  const py = report.python;
  if (py) {
    rows.push(["python", py.python]);
    for (const [name, version] of Object.entries(py.packages)) rows.push([name, version ?? "missing"]);
    if (py.torch) {
      const t = py.torch;
      rows.push(
        ["cuda", t.cuda_available ? `yes (CUDA ${t.cuda_version}; ${t.gpus.join(", ")}; bf16 ${t.bf16_supported ? "yes" : "no"})` : "no (CPU only)"],
        ["threads", String(t.threads)],
      );
    }
  }
  for (const p of report.problems) rows.push(["problem", p.what], ["  fix", p.fix]);
  if (!report.problems.length) rows.push(["status", "ok"]);
  return columns(rows);
}

export const registerDoctor: CommandRegistrar = (program, context) => {
  program
    .command("doctor")
    .description("report Node, Python, torch (CUDA, GPUs, bf16), transformers and peft versions, and what to fix")
    .action(async () => {
      const ctx = context();
      const report = await diagnose(async (python) => {
        // A worker process, not the bridge: doctor must not depend on the bridge working.
        const { pythonSourceDir } = await import("../runtime/paths.ts");
        const { runtimeEnvironment, unwrapEnvelope } = await import("../runtime/runtime.ts");
        const r = await execa(python, ["-m", "osrm_runtime", "env_info"], {
          env: runtimeEnvironment(pythonSourceDir),
          reject: false,
        });
        if (r.exitCode !== 0 && !String(r.stdout).includes('"ok"')) throw new Error(String(r.stderr).trim().split("\n").pop());
        return checkResult(envInfo, unwrapEnvelope("env_info", String(r.stdout).trim().split("\n").pop() ?? ""));
      });
      ctx.output(report, (v) => formatDoctorReport(v as DoctorReport));
      if (report.problems.length) process.exitCode = 1;
    });
};
