/**
 * The paper's table, as data: rows are the individually fine-tuned models and every merge, each
 * under each init (and sweep point); columns are the tasks, their average and the normalised score
 * (merged / individual, per task, averaged). Read from finished jobs only; what is not finished
 * is missing, never estimated. Scores are shown as percentages (the ops report fractions).
 *
 * Where the metrics come from (docs/ops.md):
 *   train    <job>/metrics.json  {best: {score, metrics}}
 *   evaluate <job>/metrics.json  {tasks: {<task>: {score, metrics}}, average, normalized}
 */
import { GLUE_DISPLAY_NAMES } from "../config/glue.ts";
import { methodDisplayName } from "../config/schema/merge-methods.ts";
import type { PaperResult } from "../config/schema/paper-results.ts";
import type { Job } from "../plan/job.ts";
import type { Plan } from "../plan/planner.ts";
import { formatCoords } from "../plan/sweep.ts";
import type { JobStore } from "../store/job-store.ts";

export interface Scores {
  /** task name -> percentage, null when not available. */
  tasks: Record<string, number | null>;
  average: number | null;
  normalized: number | null;
}

export interface ResultRow {
  /** "Individual" or the method's name with its varying hyperparameters. */
  method: string;
  methodName: string;
  init: string;
  /** The sweep point's varying axes ("" when the sweep has one point). */
  point: string;
  ours: Scores;
  /** The paper's numbers for this row, when the config provides them. */
  paper: Scores | null;
}

export interface ResultsTable {
  name: string;
  tasks: string[];
  /** Column headers of the tasks (CoLA, SST-2, ... for GLUE). */
  headers: string[];
  rows: ResultRow[];
  hasPaper: boolean;
  hasPoints: boolean;
}

interface TrainMetrics {
  best?: { score?: number };
}
interface EvaluateMetrics {
  tasks?: Record<string, { score?: number } | undefined>;
  average?: number | null;
  normalized?: number | null;
}

const percent = (value: number | null | undefined) => (typeof value === "number" && Number.isFinite(value) ? value * 100 : null);

function mean(values: (number | null)[]): number | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return values.reduce<number>((a, v) => a + v!, 0) / values.length;
}


function paperScores(row: PaperResult | undefined, tasks: string[]): Scores | null {
  if (!row) return null;
  const value = (key: string) => (typeof row.scores[key] === "number" ? row.scores[key]! : null);
  return { tasks: Object.fromEntries(tasks.map((t) => [t, value(t)])), average: value("average"), normalized: value("normalized") };
}

export function collectResults(plan: Plan, store: JobStore): ResultsTable {
  const { experiment } = plan;
  const tasks = experiment.tasks.map((t) => t.name);
  const headers = experiment.tasks.map((t) =>
    t.source.kind === "glue" && t.name === t.source.task ? GLUE_DISPLAY_NAMES[t.source.task] : t.name,
  );
  const singlePoint = plan.sweep.points.length === 1;
  const pointKey = (job: Job) => formatCoords(job.coords.point ?? {});
  const paperRow = (method: string, init: string, unique: boolean) =>
    singlePoint && unique ? paperScores(experiment.paper_results.find((r) => r.method === method && r.init === init), tasks) : null;

  // Individually fine-tuned scores, per (init, point): the reference of the normalised score.
  const individual = new Map<string, Record<string, number | null>>();
  const rows: ResultRow[] = [];
  for (const init of plan.sweep.inits) {
    const trainJobs = plan.jobs.filter((j) => j.kind === "train" && j.coords.init === init);
    for (const point of [...new Set(trainJobs.map(pointKey))]) {
      const scores: Record<string, number | null> = {};
      for (const job of trainJobs.filter((j) => pointKey(j) === point)) {
        scores[job.coords.task!] = store.isDone(job.key) ? percent(store.metrics<TrainMetrics>(job.key)?.best?.score) : null;
      }
      individual.set(`${init}|${point}`, scores);
      const values = tasks.map((t) => scores[t] ?? null);
      rows.push({
        method: methodDisplayName("individual"),
        methodName: "individual",
        init,
        point,
        ours: { tasks: scores, average: mean(values), normalized: values.every((v) => v !== null) ? 100 : null },
        paper: paperRow("individual", init, true),
      });
    }
  }

  const evaluations = plan.jobs.filter((j) => j.kind === "evaluate");
  for (const job of evaluations) {
    const { method, init, point } = job.coords as Required<Pick<Job["coords"], "method" | "init">> & Job["coords"];
    const metrics = store.isDone(job.key) ? store.metrics<EvaluateMetrics>(job.key) : null;
    const scores = Object.fromEntries(tasks.map((t) => [t, percent(metrics?.tasks?.[t]?.score)]));
    const values = tasks.map((t) => scores[t] ?? null);
    const reference = individual.get(`${init}|${formatCoords(point ?? {})}`) ?? {};
    // As the evaluate op computes it: a task whose individual score is <= 0 (Matthews 0) has no ratio.
    const ratios = tasks.flatMap((t) => {
      const merged = scores[t] ?? null;
      const alone = reference[t] ?? null;
      return merged === null || alone === null ? [null] : alone > 0 ? [(100 * merged) / alone] : [];
    });
    const sameMethod = evaluations.filter((e) => e.coords.method!.name === method.name && e.coords.init === init).length === 1;
    const label = method.label.replace(method.name, methodDisplayName(method.name));
    rows.push({
      method: label,
      methodName: method.name,
      init,
      point: formatCoords(point ?? {}),
      ours: {
        tasks: scores,
        average: mean(values) ?? percent(metrics?.average),
        // What the evaluation reported, else the same ratio from the training jobs' scores.
        normalized: percent(metrics?.normalized) ?? mean(ratios),
      },
      paper: paperRow(method.name, init, sameMethod),
    });
  }

  return {
    name: experiment.name,
    tasks,
    headers,
    rows,
    hasPaper: rows.some((r) => r.paper !== null),
    hasPoints: !singlePoint,
  };
}
