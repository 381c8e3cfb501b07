/**
 * The results table as markdown, CSV and LaTeX. The paper's number, when the config gives it,
 * stands beside ours: in parentheses in markdown and LaTeX, in its own column in CSV.
 */
import type { ResultRow, ResultsTable, Scores } from "./results.ts";

export const TABLE_FORMATS = ["md", "csv", "tex"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

const MISSING = "–";
const fixed = (value: number | null) => (value === null ? null : value.toFixed(1));

function columns(table: ResultsTable): { header: string; pick: (s: Scores) => number | null }[] {
  return [
    ...table.tasks.map((task, i) => ({ header: table.headers[i]!, pick: (s: Scores) => s.tasks[task] ?? null })),
    { header: "Avg.", pick: (s: Scores) => s.average },
    { header: "Norm.", pick: (s: Scores) => s.normalized },
  ];
}

function leading(table: ResultsTable, row: ResultRow): string[] {
  return table.hasPoints ? [row.method, row.init, row.point] : [row.method, row.init];
}
const leadingHeaders = (table: ResultsTable) => (table.hasPoints ? ["Method", "Init", "Sweep"] : ["Method", "Init"]);

function cell(ours: number | null, paper: number | null | undefined, paperWrap: (text: string) => string): string {
  const text = fixed(ours) ?? MISSING;
  const theirs = paper === undefined ? null : fixed(paper);
  return theirs === null ? text : `${text} ${paperWrap(theirs)}`;
}

export function toMarkdown(table: ResultsTable): string {
  const cols = columns(table);
  const header = [...leadingHeaders(table), ...cols.map((c) => c.header)];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < leadingHeaders(table).length ? " --- " : " ---: ")).join("|")}|`];
  for (const row of table.rows) {
    const cells = cols.map((c) => cell(c.pick(row.ours), row.paper ? c.pick(row.paper) : undefined, (t) => `(${t})`));
    lines.push(`| ${[...leading(table, row), ...cells].join(" | ")} |`);
  }
  const notes = [`Scores in %, ${table.name}. Norm. = merged / individually fine-tuned, per task, averaged. ${MISSING} = not finished.`];
  if (table.hasPaper) notes.push("In parentheses: the paper's reported value.");
  return `${lines.join("\n")}\n\n${notes.join(" ")}\n`;
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toCsv(table: ResultsTable): string {
  const cols = columns(table);
  const key = (header: string) => header.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
  const header = [...leadingHeaders(table).map(key), ...cols.flatMap((c) => (table.hasPaper ? [key(c.header), `${key(c.header)}_paper`] : [key(c.header)]))];
  const lines = [header.join(",")];
  for (const row of table.rows) {
    const values = cols.flatMap((c) => {
      const ours = c.pick(row.ours);
      const mine = ours === null ? "" : ours.toFixed(2);
      if (!table.hasPaper) return [mine];
      const theirs = row.paper ? c.pick(row.paper) : null;
      return [mine, theirs === null ? "" : String(theirs)];
    });
    lines.push([...leading(table, row), ...values].map(csvField).join(","));
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
    [...lead, ...cols.map((c) => c.header)].map(latexEscape).join(" & ") + " \\\\",
    "\\midrule",
  ];
  let previous: string | null = null;
  for (const row of table.rows) {
    // A rule between the individual models and the merges, as in the paper.
    if (previous === "individual" && row.methodName !== "individual") lines.push("\\midrule");
    previous = row.methodName;
    const cells = cols.map((c) => cell(c.pick(row.ours), row.paper ? c.pick(row.paper) : undefined, (t) => `{\\scriptsize (${t})}`).replace(MISSING, "--"));
    lines.push([...leading(table, row).map(latexEscape), ...cells].join(" & ") + " \\\\");
  }
  lines.push("\\bottomrule", "\\end{tabular}");
  return lines.join("\n") + "\n";
}

export function formatTable(table: ResultsTable, format: TableFormat): string {
  return format === "md" ? toMarkdown(table) : format === "csv" ? toCsv(table) : toLatex(table);
}
