/** `osrm table CONFIG`: the paper's table from the finished jobs of a run. */
import { writeFileAtomic } from "../store/atomic.ts";
import { UsageError } from "../errors.ts";
import { planExperiment } from "../plan/planner.ts";
import { formatTable, TABLE_FORMATS, type TableFormat } from "../report/format.ts";
import { collectResults } from "../report/results.ts";
import { JobStore } from "../store/job-store.ts";
import { experimentOptions, loadFromFlags, type ExperimentFlags } from "./config.ts";
import type { CommandRegistrar } from "./context.ts";

const FORMAT_ALIASES: Record<string, TableFormat> = { md: "md", markdown: "md", csv: "csv", tex: "tex", latex: "tex" };

export const registerTable: CommandRegistrar = (program, context) => {
  experimentOptions(program.command("table"))
    .description("print the results table of a run: individual fine-tuning and every merge x init, per task, average and normalised score")
    .option("-f, --format <format>", "md, csv or latex", "md")
    .option("-o, --out <file>", "write the table to a file instead of printing it")
    .addHelpText(
      "after",
      `
Rows: the individually fine-tuned models, then each merging method, under each init (and sweep
point). Columns: the config's tasks, their average and the normalised score (merged score /
individually fine-tuned score, per task, averaged). Only finished jobs count; the rest show as
missing. Where the config lists paper_results, the paper's value stands beside ours.

Examples:
  osrm table configs/paper/roberta-large-qv.yaml
  osrm table configs/paper/roberta-large-qv.yaml --format latex --out table1.tex
  osrm table configs/paper/roberta-large-qkv.yaml --format csv > qkv.csv`,
    )
    .action((file: string, flags: ExperimentFlags & { format: string; out?: string }) => {
      const format = FORMAT_ALIASES[flags.format.toLowerCase()];
      if (!format) throw new UsageError(`--format ${flags.format}: expected one of ${TABLE_FORMATS.join(", ")} (or markdown, latex)`);
      const plan = planExperiment(loadFromFlags(file, flags));
      const table = collectResults(plan, new JobStore(plan.experiment.output));
      const text = formatTable(table, format);
      const ctx = context();
      if (flags.out) {
        writeFileAtomic(flags.out, text);
        ctx.output({ file: flags.out, rows: table.rows.length }, () => `wrote ${flags.out} (${table.rows.length} rows)`);
      } else if (ctx.mode === "json") {
        ctx.output(table);
      } else {
        process.stdout.write(text);
      }
    });
};
