/**
 * The results table as markdown, CSV and LaTeX. The paper's number, when the config gives it,
 * stands beside ours: in parentheses in markdown and LaTeX, in its own column in CSV. With several
 * seeds a cell is `mean ± sd`; markdown also carries the robustness view and the paired per-seed
 * differences between the inits.
 */
import { METRIC_NAMES, type ResultRow, type ResultsTable, type Scores, type Stat } from "./results.ts";

export const TABLE_FORMATS = ["md", "csv", "tex"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

const MISSING = "–";
const EDGE = "†";
const fixed = (value: number | null) => (value === null ? null : value.toFixed(1));

interface Column {
  header: string;
  /** The CSV key: the task's own name, average, normalized. */
  key: string;
  pick: (s: Scores) => number | null;
}

/** A task column is named by its metric (CoLA MCC, spam acc., year R²). */
function columns(table: ResultsTable): Column[] {
  return [
    ...table.tasks.map((task, i) => {
      const metric = table.metrics[i];
      const name = metric ? METRIC_NAMES[metric] ?? metric : null;
      return { header: name ? `${table.headers[i]} ${name}` : table.headers[i]!, key: task, pick: (s: Scores) => s.tasks[task] ?? null };
    }),
    { header: "Avg.", key: "avg", pick: (s: Scores) => s.average },
    { header: "Norm.", key: "norm", pick: (s: Scores) => s.normalized },
  ];
}

function leading(table: ResultsTable, row: { method: string; init: string; point: string }): string[] {
  return table.hasPoints ? [row.method, row.init, row.point] : [row.method, row.init];
}
const leadingHeaders = (table: ResultsTable) => (table.hasPoints ? ["Method", "Init", "Sweep"] : ["Method", "Init"]);

function cell(ours: number | null, sd: number | null, paper: number | null | undefined, paperWrap: (text: string) => string, pm = " ± "): string {
  const text = ours === null ? MISSING : sd === null ? fixed(ours)! : `${fixed(ours)}${pm}${fixed(sd)}`;
  const theirs = paper === undefined ? null : fixed(paper);
  return theirs === null ? text : `${text} ${paperWrap(theirs)}`;
}

export function scaleNote(table: ResultsTable): string {
  const kinds = new Set(table.metrics.filter(Boolean));
  const parts = ["accuracy in %"];
  if (kinds.has("r2")) parts.push("R² x100");
  if (kinds.has("matthews") || kinds.has("pearson_spearman")) parts.push("correlations x100");
  return `Scores x100 (${parts.join(", ")})`;
}

function statText(s: Stat): string {
  return s.mean === null ? MISSING : s.sd === null ? fixed(s.mean)! : `${fixed(s.mean)} ± ${fixed(s.sd)}`;
}

function lambdasText(lambdas: (number | null)[], atEdge: boolean): string {
  const chosen = lambdas.filter((l): l is number => l !== null);
  return chosen.length ? `${chosen.join(", ")}${atEdge ? ` ${EDGE}` : ""}` : "fixed";
}

export function toMarkdown(table: ResultsTable): string {
  const cols = columns(table);
  const header = [...leadingHeaders(table), ...cols.map((c) => c.header)];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < leadingHeaders(table).length ? " --- " : " ---: ")).join("|")}|`];
  for (const row of table.rows) {
    const cells = cols.map((c) => cell(c.pick(row.ours), c.pick(row.sd), row.paper ? c.pick(row.paper) : undefined, (t) => `(${t})`));
    lines.push(`| ${[...leading(table, row), ...cells].join(" | ")} |`);
  }
  const seeds = table.seeds.length > 1 ? ` Mean ± sd over ${table.seeds.length} seeds (${table.seeds.join(", ")}).` : "";
  const notes = [`${scaleNote(table)}, ${table.name}.${seeds} Norm. = merged / individually fine-tuned, per task, averaged. ${MISSING} = not finished.`];
  if (table.hasPaper) notes.push("In parentheses: the paper's reported value.");
  let text = `${lines.join("\n")}\n\n${notes.join(" ")}\n`;
  if (table.robustness.length) text += `\n${robustnessMarkdown(table)}`;
  if (table.paired.length) text += `\n${pairedMarkdown(table)}`;
  return text;
}

export function robustnessMarkdown(table: ResultsTable): string {
  const head = [...leadingHeaders(table), "Norm. at chosen λ", "λ chosen", "Norm. mean over λ grid", "Norm. worst over λ grid", "Norm. at λ = 1"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < leadingHeaders(table).length || i === leadingHeaders(table).length + 1 ? " --- " : " ---: ")).join("|")}|`];
  for (const r of table.robustness) {
    lines.push(`| ${[...leading(table, r), statText(r.chosen), lambdasText(r.lambdas, r.atEdge), statText(r.gridMean), statText(r.gridWorst), statText(r.atOne)].join(" | ")} |`);
  }
  const grid = table.grid.length ? ` The λ grid on the reported split: ${table.grid.join(", ")}.` : "";
  const edge = table.robustness.some((r) => r.atEdge) ? ` ${EDGE} a chosen λ lies at the edge of its search grid: the grid may not reach the best value.` : "";
  return `${lines.join("\n")}\n\nRobustness to λ (normalised score, %).${grid} λ chosen: by the method's search on held-out training data ("fixed": not searched).${edge}\n`;
}

export function pairedMarkdown(table: ResultsTable): string {
  const lines = ["| Method | Measure | OSRM - Gaussian, per seed | mean ± sd | OSRM higher |", "| --- | --- | --- | ---: | ---: |"];
  for (const p of table.paired) {
    const method = p.point ? `${p.method} (${p.point})` : p.method;
    lines.push(`| ${method} | ${p.measure} | ${p.differences.map((d) => d.toFixed(1)).join(", ")} | ${p.mean.toFixed(1)}${p.sd === null ? "" : ` ± ${p.sd.toFixed(1)}`} | ${p.wins} of ${p.differences.length} |`);
  }
  return `${lines.join("\n")}\n\nPaired differences of the normalised score (points), OSRM minus Gaussian, seed by seed (the same training and statistics seed).\n`;
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toCsv(table: ResultsTable): string {
  const cols = columns(table);
  const key = (header: string) => header.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
  const withSd = table.seeds.length > 1;
  const header = [
    ...leadingHeaders(table).map(key),
    ...(withSd ? ["seeds"] : []),
    ...cols.flatMap((c) => [c.key, ...(withSd ? [`${c.key}_sd`] : []), ...(table.hasPaper ? [`${c.key}_paper`] : [])]),
  ];
  const lines = [header.join(",")];
  for (const row of table.rows) {
    const values = cols.flatMap((c) => {
      const ours = c.pick(row.ours);
      const sd = c.pick(row.sd);
      const out = [ours === null ? "" : ours.toFixed(2)];
      if (withSd) out.push(sd === null ? "" : sd.toFixed(2));
      if (table.hasPaper) {
        const theirs = row.paper ? c.pick(row.paper) : null;
        out.push(theirs === null ? "" : String(theirs));
      }
      return out;
    });
    lines.push([...leading(table, row), ...(withSd ? [String(row.seeds)] : []), ...values].map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

/** The robustness view as CSV: one line per merge, init and seed. */
export function robustnessCsv(table: ResultsTable): string {
  const lines = ["method,init,point,seed,norm_chosen,lambda_chosen,lambda_at_edge,norm_grid_mean,norm_grid_worst,norm_lambda_1"];
  const num = (v: number | null | undefined) => (v === null || v === undefined ? "" : v.toFixed(2));
  for (const r of table.robustness) {
    r.chosen.values.forEach((_, i) => {
      const seed = table.seeds[i] ?? "";
      lines.push([r.method, r.init, r.point, String(seed), num(r.chosen.values[i]), r.lambdas[i] === null ? "" : String(r.lambdas[i]), r.atEdge ? "yes" : "no", num(r.gridMean.values[i]), num(r.gridWorst.values[i]), num(r.atOne.values[i])].map(csvField).join(","));
    });
  }
  return lines.join("\n") + "\n";
}

const latexEscape = (text: string) => text.replace(/([&%$#_{}])/g, "\\$1").replace(/~/g, "\\textasciitilde{}");

export function toLatex(table: ResultsTable): string {
  const cols = columns(table);
  const lead = leadingHeaders(table);
  const lines = [
    "\\begin{tabular}{" + "l".repeat(lead.length) + "r".repeat(cols.length) + "}",
    "\\toprule",
    [...lead, ...cols.map((c) => c.header)].map((h) => latexEscape(h).replace("²", "$^2$")).join(" & ") + " \\\\",
    "\\midrule",
  ];
  let previous: string | null = null;
  for (const row of table.rows as ResultRow[]) {
    // A rule between the individual models and the merges, as in the paper.
    if (previous === "individual" && row.methodName !== "individual") lines.push("\\midrule");
    previous = row.methodName;
    const cells = cols.map((c) => cell(c.pick(row.ours), c.pick(row.sd), row.paper ? c.pick(row.paper) : undefined, (t) => `{\\scriptsize (${t})}`, "{\\scriptsize $\\pm$ ").replace(MISSING, "--"));
    lines.push([...leading(table, row).map(latexEscape), ...cells.map(closeScriptsize)].join(" & ") + " \\\\");
  }
  lines.push("\\bottomrule", "\\end{tabular}");
  return lines.join("\n") + "\n";
}

/** `88.0{\scriptsize $\pm$ 1.2` -> `88.0{\scriptsize $\pm$ 1.2}`: the sd in small type. */
function closeScriptsize(text: string): string {
  return text.replace(/\{\\scriptsize \$\\pm\$ ([0-9.]+)/, "{\\scriptsize $\\pm$ $1}");
}

export function formatTable(table: ResultsTable, format: TableFormat): string {
  return format === "md" ? toMarkdown(table) : format === "csv" ? toCsv(table) : toLatex(table);
}
