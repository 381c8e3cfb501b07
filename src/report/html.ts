/**
 * The report page: one self-contained HTML file (images inlined) that a user opens after a run —
 * the results table, the interference heat maps of every init (docs/algorithms.md, section 5) and the
 * robustness curves of every merge whose lambda was searched. Also copies the images to
 * `plots/` beside it for papers and slides.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { DiagnoseResult } from "../ops/diagnose.ts";
import type { MergeResult } from "../ops/merge.ts";
import type { Plan } from "../plan/planner.ts";
import { formatCoords } from "../plan/sweep.ts";
import type { JobStore } from "../store/job-store.ts";
import type { ResultsTable } from "./results.ts";

export interface Figure {
  title: string;
  /** The image as the job wrote it. */
  source: string;
  /** Its copy under the report's plots/ folder. */
  file: string;
  caption: string;
}


const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const pointText = (point: Record<string, unknown> | undefined) => (point && Object.keys(point).length ? ` (${formatCoords(point)})` : "");

/** The figures of finished jobs, copied into `<outDir>/plots/`. */
export function collectFigures(plan: Plan, store: JobStore, outDir: string): Figure[] {
  const figures: Figure[] = [];
  const plots = join(outDir, "plots");
  const add = (title: string, source: string | undefined, name: string, caption: string) => {
    if (!source || !existsSync(source)) return;
    mkdirSync(plots, { recursive: true });
    const file = join(plots, name);
    copyFileSync(source, file);
    figures.push({ title, source, file, caption });
  };
  for (const job of plan.jobs.filter((j) => j.kind === "diagnose" && store.isDone(j.key))) {
    const result = store.result<DiagnoseResult>(job.key);
    const off = typeof result?.off_diagonal_mean === "number" ? result.off_diagonal_mean.toFixed(4) : "–";
    const own = typeof result?.diagonal_mean === "number" ? result.diagonal_mean.toFixed(4) : "–";
    add(
      `Interference, ${job.coords.init} init${pointText(job.coords.point)}`,
      result?.image,
      `interference-${job.coords.init}-${job.key}.png`,
      `Relative output shift ||dW_i H_j|| / ||W0 H_j|| of adapter i (rows) on task j's layer inputs (columns). ` +
        `Off-diagonal mean ${off} (interference a merge suffers), diagonal mean ${own} (each task's own update).`,
    );
  }
  for (const job of plan.jobs.filter((j) => j.kind === "merge" && store.isDone(j.key))) {
    const result = store.result<MergeResult>(job.key);
    const best = result?.search?.best;
    add(
      `Robustness curve: ${job.coords.method?.label ?? job.label}, ${job.coords.init} init${pointText(job.coords.point)}`,
      result?.search?.curve?.png,
      `robustness-${job.coords.method?.name ?? "merge"}-${job.coords.init}-${job.key}.png`,
      `Score on the held-out slice of the training data against the searched hyperparameter` +
        (best ? `; chosen: ${Object.entries(best).map(([k, v]) => `${k} = ${String(v)}`).join(", ")}` : "") + ".",
    );
  }
  return figures;
}

function tableHtml(table: ResultsTable): string {
  const head = ["Method", "Init", ...(table.hasPoints ? ["Sweep"] : []), ...table.headers, "Avg.", "Norm."];
  const fmt = (v: number | null | undefined) => (typeof v === "number" ? v.toFixed(1) : "–");
  const rows = table.rows.map((row) => {
    const values = [...table.tasks.map((t) => row.ours.tasks[t]), row.ours.average, row.ours.normalized];
    const paper = row.paper ? [...table.tasks.map((t) => row.paper!.tasks[t]), row.paper.average, row.paper.normalized] : null;
    const cells = values.map((v, i) => {
      const theirs = paper?.[i];
      return `<td>${fmt(v)}${typeof theirs === "number" ? ` <span class="paper">(${fmt(theirs)})</span>` : ""}</td>`;
    });
    const lead = [row.method, row.init, ...(table.hasPoints ? [row.point] : [])].map((c) => `<th>${escape(c)}</th>`);
    return `<tr class="${row.methodName === "individual" ? "individual" : ""}">${lead.join("")}${cells.join("")}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}

export function writeHtmlReport(table: ResultsTable, figures: Figure[], outDir: string): string {
  const images = figures
    .map((f) => {
      const data = readFileSync(f.file).toString("base64");
      return `<figure><figcaption><b>${escape(f.title)}</b><br>${escape(f.caption)}</figcaption>` +
        `<img alt="${escape(f.title)}" src="data:image/png;base64,${data}"><p class="file">plots/${escape(basename(f.file))}</p></figure>`;
    })
    .join("\n");
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(table.name)} — osrm report</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
thead th { border-bottom: 2px solid #444; } tbody th { text-align: left; font-weight: normal; }
tr.individual { background: #f3f6fa; } .paper { color: #888; font-size: 85%; }
figure { display: inline-block; vertical-align: top; margin: 1rem 1rem 1rem 0; max-width: 520px; }
img { max-width: 520px; border: 1px solid #eee; } .file { color: #888; font-size: 85%; margin: 0; }
</style></head><body>
<h1>${escape(table.name)}</h1>
<p>Scores in %. Individual = each task's own fine-tuned adapter; merged rows evaluate one merged model with each task's own head.
Norm. = merged / individually fine-tuned score, per task, averaged.${table.hasPaper ? " The paper's value is in parentheses." : ""}</p>
${tableHtml(table)}
<h2>Figures</h2>
${images || "<p>No figures: no interference matrix or searched merge has finished.</p>"}
</body></html>
`;
  const file = join(outDir, "report.html");
  writeFileSync(file, html);
  return file;
}
