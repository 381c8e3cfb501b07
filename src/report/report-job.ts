/** The `report` job: the results table in every format, the robustness view, the figures and the report page. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writingTo } from "../errors.ts";
import { ExecutorsByKind, type JobExecutor } from "../plan/executor.ts";
import type { Plan } from "../plan/planner.ts";
import { JobStore } from "../store/job-store.ts";
import { formatTable, robustnessCsv, TABLE_FORMATS } from "./format.ts";
import { writeHtmlReport } from "./html.ts";
import { collectResults } from "./results.ts";

export function writeReport(plan: Plan, store: JobStore, outDir: string): { files: Record<string, string>; rows: number; figures: string[] } {
  const table = collectResults(plan, store);
  mkdirSync(outDir, { recursive: true });
  const files: Record<string, string> = {};
  for (const format of TABLE_FORMATS) {
    // The folder is a staging folder renamed when the job finishes: plain writes are enough.
    const file = join(outDir, `table.${format}`);
    writeFileSync(file, formatTable(table, format));
    files[format] = file;
  }
  if (table.robustness.length) {
    files.robustness = join(outDir, "robustness.csv");
    writeFileSync(files.robustness, robustnessCsv(table));
  }
  const page = writeHtmlReport(plan, store, table, outDir);
  files.html = page.file;
  return { files, rows: table.rows.length, figures: page.figures.flatMap((f) => Object.values(f.files).filter(Boolean)) };
}

/** The report kind's executor: the job's staging folder (its payload's `out`) gets the report. */
export function reportExecutor(plan: Plan): JobExecutor {
  const store = new JobStore(plan.experiment.output);
  // A refused write (disk full, read-only) names the report folder when Node names no file.
  return { execute: async (_job, context) => writingTo(context.payload.out as string, () => writeReport(plan, store, context.payload.out as string)) };
}

/** An executor for every job of a plan: the report written here, every other kind by `python`. */
export function withReport(plan: Plan, python: JobExecutor): JobExecutor {
  return new ExecutorsByKind(python, { report: reportExecutor(plan) });
}
