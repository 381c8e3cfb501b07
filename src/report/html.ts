/**
 * The report page: one self-contained HTML file (images inlined) that a user opens after a run —
 * the results table (every row linked to its job folders), the robustness view and the paired
 * per-seed differences, the figures that compare the inits (drawn by the `figures` job: the
 * robustness curves of both inits on one axis per method, the interference matrices on one colour
 * scale, the training losses), and a provenance block (config, seeds, versions, hardware, commit,
 * date, job times). The figures are copied to `plots/` beside it as PNG, SVG and PDF.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import type { PlotReportResult } from "../ops/plot-report.ts";
import { JOB_KINDS } from "../plan/job.ts";
import type { Plan } from "../plan/planner.ts";
import { packageRoot } from "../runtime/paths.ts";
import type { JobStore } from "../store/job-store.ts";
import { METRIC_NAMES, type ResultsTable, type Scores, type Stat } from "./results.ts";
import { scaleNote } from "./format.ts";

export interface Figure {
  title: string;
  caption: string;
  /** The copies under the report's plots/ folder, by format. */
  files: { png: string; svg: string; pdf: string };
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const fmt = (v: number | null | undefined) => (typeof v === "number" ? v.toFixed(1) : "–");

/** The figures job's figures, copied into `<outDir>/plots/`. */
export function collectFigures(plan: Plan, store: JobStore, outDir: string): { figures: Figure[]; environment: Pick<PlotReportResult, "versions" | "hardware"> | null } {
  const job = plan.jobs.find((j) => j.kind === "figures");
  const result = job && store.isDone(job.key) ? store.result<PlotReportResult>(job.key) : null;
  if (!result) return { figures: [], environment: null };
  const plots = join(outDir, "plots");
  mkdirSync(plots, { recursive: true });
  const figures: Figure[] = [];
  for (const figure of result.figures) {
    const files = { png: "", svg: "", pdf: "" };
    for (const format of ["png", "svg", "pdf"] as const) {
      const source = figure[format];
      if (!existsSync(source)) continue;
      files[format] = join(plots, basename(source));
      copyFileSync(source, files[format]);
    }
    if (files.png) figures.push({ title: figure.title, caption: figure.caption, files });
  }
  return { figures, environment: { versions: result.versions, hardware: result.hardware } };
}

/** Where a job's folder is, seen from the report page (jobs/report-x/out/report.html). */
const jobLink = (key: string) => `../../${key}/`;

function cell(value: number | null, sd: number | null): string {
  if (value === null) return "–";
  return sd === null ? value.toFixed(1) : `${value.toFixed(1)}<span class="sd"> ± ${sd.toFixed(1)}</span>`;
}

function tableHtml(table: ResultsTable): string {
  const metricName = (i: number) => {
    const m = table.metrics[i];
    return m ? ` <span class="metric">${escape(METRIC_NAMES[m] ?? m)}</span>` : "";
  };
  const head = [
    ...["Method", "Init", ...(table.hasPoints ? ["Sweep"] : [])].map((h) => `<th>${escape(h)}</th>`),
    ...table.headers.map((h, i) => `<th>${escape(h)}${metricName(i)}</th>`),
    "<th>Avg.</th>",
    "<th>Norm.</th>",
    "<th>Jobs</th>",
  ];
  const rows = table.rows.map((row) => {
    const picks: ((s: Scores) => number | null)[] = [...table.tasks.map((t) => (s: Scores) => s.tasks[t] ?? null), (s) => s.average, (s) => s.normalized];
    const cells = picks.map((pick) => {
      const theirs = row.paper ? pick(row.paper) : null;
      return `<td>${cell(pick(row.ours), pick(row.sd))}${theirs !== null ? ` <span class="paper">(${fmt(theirs)})</span>` : ""}</td>`;
    });
    const lead = [row.method, row.init, ...(table.hasPoints ? [row.point] : [])].map((c) => `<th>${escape(c)}</th>`);
    const links = row.jobs.map((key, i) => `<a href="${jobLink(key)}" title="${escape(key)}">${row.jobs.length > 1 ? `seed ${table.seeds[i] ?? i + 1}` : "job"}</a>`).join(" ");
    return `<tr class="${row.methodName === "individual" ? "individual" : ""}">${lead.join("")}${cells.join("")}<td class="jobs">${links}</td></tr>`;
  });
  return `<table id="results"><thead><tr>${head.join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}

const statHtml = (s: Stat) => cell(s.mean, s.sd);

function robustnessHtml(table: ResultsTable): string {
  if (!table.robustness.length) return "";
  const rows = table.robustness.map((r) => {
    const chosen = r.lambdas.filter((l): l is number => l !== null);
    const lambdas = chosen.length ? `${chosen.join(", ")}${r.atEdge ? ' <span class="edge" title="at the edge of the search grid">†</span>' : ""}` : "fixed";
    const lead = [r.method, r.init, ...(table.hasPoints ? [r.point] : [])].map((c) => `<th>${escape(c)}</th>`).join("");
    return `<tr>${lead}<td>${statHtml(r.chosen)}</td><td>${lambdas}</td><td>${statHtml(r.gridMean)}</td><td>${statHtml(r.gridWorst)}</td><td>${statHtml(r.atOne)}</td></tr>`;
  });
  const edge = table.robustness.some((r) => r.atEdge) ? " † a chosen λ lies at the edge of its search grid: the grid may not reach the best value." : "";
  return `<h2>Robustness to λ</h2>
<p>Normalised score (%) of each merge on the reported split: at the λ its search chose on held-out training data, and over the
evaluation's λ grid (${table.grid.join(", ") || "none"}) — its mean, its worst point, and λ = 1, the merge with no tuning of its scale.${edge}</p>
<table id="robustness"><thead><tr><th>Method</th><th>Init</th>${table.hasPoints ? "<th>Sweep</th>" : ""}<th>at chosen λ</th><th>λ chosen</th><th>mean over grid</th><th>worst over grid</th><th>at λ = 1</th></tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

function pairedHtml(table: ResultsTable): string {
  if (!table.paired.length) return "";
  const rows = table.paired.map(
    (p) =>
      `<tr><th>${escape(p.point ? `${p.method} (${p.point})` : p.method)}</th><th>${escape(p.measure)}</th><td>${p.differences.map((d) => d.toFixed(1)).join(", ")}</td>` +
      `<td>${p.mean.toFixed(1)}${p.sd === null ? "" : ` ± ${p.sd.toFixed(1)}`}</td><td>${p.wins} of ${p.differences.length}</td></tr>`,
  );
  return `<h2>OSRM against Gaussian, seed by seed</h2>
<p>Differences of the normalised score (points), OSRM minus Gaussian, for the same training and statistics seed.</p>
<table id="paired"><thead><tr><th>Method</th><th>Measure</th><th>per seed</th><th>mean ± sd</th><th>OSRM higher</th></tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}

function commitOf(): string {
  try {
    const head = execFileSync("git", ["-C", packageRoot, "rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["-C", packageRoot, "status", "--porcelain", "--untracked-files=no"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return `${head}${dirty ? " (with uncommitted changes)" : ""}`;
  } catch {
    const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { name: string; version: string });
    return `${version.name} ${version.version} (not a git checkout)`;
  }
}

function provenanceHtml(plan: Plan, store: JobStore, environment: Pick<PlotReportResult, "versions" | "hardware"> | null): string {
  const times = JOB_KINDS.map((kind) => {
    const jobs = plan.jobs.filter((j) => j.kind === kind && j.kind !== "report");
    const seconds = jobs.map((j) => store.done(j.key)?.seconds ?? null).filter((s): s is number => s !== null);
    return { kind, jobs: jobs.length, done: seconds.length, seconds: seconds.reduce((a, s) => a + s, 0) };
  }).filter((t) => t.jobs > 0);
  const total = times.reduce((a, t) => a + t.seconds, 0);
  const perJob = plan.jobs
    .filter((j) => j.kind !== "report" && store.isDone(j.key))
    .map((j) => `<tr><td><a href="${jobLink(j.key)}">${escape(j.label)}</a></td><td>${(store.done(j.key)?.seconds ?? 0).toFixed(1)}</td></tr>`);
  const { file: _file, ...config } = plan.experiment;
  const seeds = plan.sweep.points.map((p) => p.seed);
  const versions = environment ? Object.entries(environment.versions).map(([k, v]) => `${k} ${v ?? "missing"}`).join(", ") : "–";
  const hardware = environment
    ? `${environment.hardware.processor}, ${environment.hardware.cpus} CPU(s)${environment.hardware.threads ? `, ${environment.hardware.threads} torch thread(s)` : ""}; GPU: ${environment.hardware.gpus.join(", ") || "none"}`
    : "–";
  return `<h2>Provenance</h2>
<table class="provenance">
<tr><th>config</th><td>${escape(plan.experiment.file ?? "(built in code)")}</td></tr>
<tr><th>seeds</th><td>${escape([...new Set(seeds)].join(", "))} (training seed${plan.experiment.osrm.seed === "training" ? " and the OSRM statistics' sample" : `; OSRM statistics seed ${plan.experiment.osrm.seed}`})</td></tr>
<tr><th>versions</th><td>${escape(versions)}</td></tr>
<tr><th>hardware</th><td>${escape(hardware)}</td></tr>
<tr><th>commit</th><td>${escape(commitOf())}</td></tr>
<tr><th>date</th><td>${new Date().toISOString()}</td></tr>
<tr><th>time</th><td>${times.map((t) => `${t.kind} ${t.seconds.toFixed(1)} s (${t.done} of ${t.jobs} jobs)`).join("; ")}; total ${total.toFixed(1)} s of job time</td></tr>
</table>
<details><summary>Every job's time</summary><table class="times"><thead><tr><th>job</th><th>seconds</th></tr></thead><tbody>${perJob.join("\n")}</tbody></table></details>
<details><summary>The resolved config</summary><pre>${escape(stringify(config, { lineWidth: 120 }))}</pre></details>`;
}

export function writeHtmlReport(plan: Plan, store: JobStore, table: ResultsTable, outDir: string): { file: string; figures: Figure[] } {
  const { figures, environment } = collectFigures(plan, store, outDir);
  const images = figures
    .map((f) => {
      const data = readFileSync(f.files.png).toString("base64");
      const links = (["svg", "pdf"] as const)
        .filter((format) => f.files[format])
        .map((format) => `<a href="plots/${escape(basename(f.files[format]))}">${format.toUpperCase()}</a>`)
        .join(" · ");
      return `<figure><figcaption><b>${escape(f.title)}</b><br>${escape(f.caption)}</figcaption>` +
        `<img alt="${escape(f.title)}" src="data:image/png;base64,${data}"><p class="file">plots/${escape(basename(f.files.png))}${links ? ` · ${links}` : ""}</p></figure>`;
    })
    .join("\n");
  const seeds = table.seeds.length > 1 ? ` Each cell is the mean ± standard deviation over ${table.seeds.length} seeds.` : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(table.name)} — osrm report</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
thead th { border-bottom: 2px solid #444; vertical-align: bottom; } tbody th { text-align: left; font-weight: normal; }
tr.individual { background: #f3f6fa; } .paper, .sd, .metric { color: #777; font-size: 85%; } .metric { display: block; }
td.jobs a { font-size: 80%; margin-right: .3rem; } .edge { color: #b00; }
table.provenance th { text-align: left; } table.provenance td { text-align: left; white-space: normal; }
figure { display: inline-block; vertical-align: top; margin: 1rem 1rem 1rem 0; max-width: 100%; }
img { max-width: 100%; border: 1px solid #eee; } .file { color: #888; font-size: 85%; margin: 0; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; font-size: 85%; }
</style></head><body>
<h1>${escape(table.name)}</h1>
<p>${escape(scaleNote(table))}. Individual = each task's own fine-tuned adapter; merged rows evaluate one merged model with each task's own head.
Norm. = merged / individually fine-tuned score, per task, averaged.${seeds}${table.hasPaper ? " The paper's value is in parentheses." : ""}
Each row links to its job folders.</p>
<div class="scroll">${tableHtml(table)}</div>
<div class="scroll">${robustnessHtml(table)}</div>
<div class="scroll">${pairedHtml(table)}</div>
<h2>Figures</h2>
${images || "<p>No figures: the figures job has not finished.</p>"}
${provenanceHtml(plan, store, environment)}
</body></html>
`;
  const file = join(outDir, "report.html");
  writeFileSync(file, html);
  return { file, figures };
}
