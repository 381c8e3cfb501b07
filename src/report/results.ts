/**
 * The paper's table, as data: rows are the individually fine-tuned models and every merge, each
 * under each init (and sweep point other than the seed); columns are the tasks, their average and
 * the normalised score (merged / individual, per task, averaged). With several seeds a cell is the
 * mean over seeds with its standard deviation. Read from finished jobs only; what is not finished
 * is missing, never estimated. Scores are shown x100 (the ops report fractions).
 *
 * Beside it, the robustness view of every merge scored over the evaluation's lambda grid (the mean
 * and the worst normalised score over the grid, the score at lambda 1, the lambda a search chose
 * and whether it lies at the grid's edge), and the paired per-seed differences between the inits.
 *
 * Where the metrics come from (docs/ops.md):
 *   train    <job>/metrics.json  {best: {score, metrics}, metric}
 *   evaluate <job>/metrics.json  {tasks: {<task>: {score, metrics}}, average, normalized, curve?}
 *   merge    <job>/result.json   {lambda} (the lambda its search chose)
 */
import { GLUE_DISPLAY_NAMES } from "../config/glue.ts";
import { methodDisplayName } from "../config/schema/merge-methods.ts";
import type { PaperResult } from "../config/schema/paper-results.ts";
import type { Job } from "../plan/job.ts";
import type { Plan } from "../plan/planner.ts";
import { formatCoords } from "../plan/sweep.ts";
import type { JobStore } from "../store/job-store.ts";

export interface Scores {
  /** task name -> score x100, null when not available. */
  tasks: Record<string, number | null>;
  average: number | null;
  normalized: number | null;
}

export interface ResultRow {
  /** "Individual" or the method's display name with its varying hyperparameters. */
  method: string;
  methodName: string;
  init: string;
  /** The sweep point's varying axes other than the seed ("" when there are none). */
  point: string;
  /** The mean over seeds (one seed: its score). */
  ours: Scores;
  /** The standard deviation over seeds; null where fewer than two seeds finished. */
  sd: Scores;
  /** Seeds that finished, and the job folders behind the row (one per seed). */
  seeds: number;
  jobs: string[];
  /** The paper's numbers for this row, when the config provides them. */
  paper: Scores | null;
}

/** Mean, standard deviation and the per-seed values of one measure. */
export interface Stat {
  mean: number | null;
  sd: number | null;
  values: (number | null)[];
}

export interface RobustnessRow {
  method: string;
  methodName: string;
  init: string;
  point: string;
  /** Normalised score at the merge's own lambda (the searched one, or its fixed value). */
  chosen: Stat;
  /** Over the evaluation's lambda grid: the mean and the worst normalised score, per seed. */
  gridMean: Stat;
  gridWorst: Stat;
  /** The normalised score at lambda 1: no tuning of the scale at all. */
  atOne: Stat;
  /** The lambda each seed's search chose (null: not searched), and whether one lies at the edge of its grid. */
  lambdas: (number | null)[];
  atEdge: boolean;
  jobs: string[];
}

export interface PairedRow {
  method: string;
  point: string;
  measure: "chosen" | "grid mean" | "grid worst" | "lambda 1";
  /** OSRM minus Gaussian, per seed (normalised points x100), and their mean and sd. */
  differences: number[];
  mean: number;
  sd: number | null;
  /** Seeds where OSRM is higher. */
  wins: number;
}

export interface ResultsTable {
  name: string;
  tasks: string[];
  /** Column headers of the tasks (CoLA, SST-2, ... for GLUE). */
  headers: string[];
  /** The metric each task is scored by (accuracy, r2, matthews, ...), when known. */
  metrics: (string | null)[];
  rows: ResultRow[];
  robustness: RobustnessRow[];
  paired: PairedRow[];
  /** The lambda grid of the robustness view ([] when none). */
  grid: number[];
  seeds: number[];
  hasPaper: boolean;
  hasPoints: boolean;
}

interface TrainMetrics {
  best?: { score?: number };
  metric?: string;
  /** What always predicting the training majority class (or mean) scores on the eval split. */
  majority_baseline?: { score?: number };
}
interface EvaluateMetrics {
  tasks?: Record<string, { score?: number } | undefined>;
  average?: number | null;
  normalized?: number | null;
  curve?: { lambda: number; normalized: number | null }[] | null;
}

const percent = (value: number | null | undefined) => (typeof value === "number" && Number.isFinite(value) ? value * 100 : null);

function mean(values: (number | null)[]): number | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return values.reduce<number>((a, v) => a + v!, 0) / values.length;
}

/** Mean and sample standard deviation over the seeds that finished. */
export function stat(values: (number | null)[]): Stat {
  const known = values.filter((v): v is number => v !== null);
  if (known.length === 0) return { mean: null, sd: null, values };
  const m = known.reduce((a, v) => a + v, 0) / known.length;
  const sd = known.length > 1 ? Math.sqrt(known.reduce((a, v) => a + (v - m) ** 2, 0) / (known.length - 1)) : null;
  return { mean: m, sd, values };
}

function paperScores(row: PaperResult | undefined, tasks: string[]): Scores | null {
  if (!row) return null;
  const value = (key: string) => (typeof row.scores[key] === "number" ? row.scores[key]! : null);
  return { tasks: Object.fromEntries(tasks.map((t) => [t, value(t)])), average: value("average"), normalized: value("normalized") };
}

/** The sweep point without the seed: what rows are grouped by. */
function groupPoint(job: Job): string {
  const { seed: _seed, ...rest } = job.coords.point ?? {};
  return formatCoords(rest);
}
const seedOf = (job: Job) => (job.coords.point?.seed as number | undefined) ?? null;

function aggregate(tasks: string[], perSeed: Scores[]): { ours: Scores; sd: Scores } {
  const pick = (f: (s: Scores) => number | null) => stat(perSeed.map(f));
  const cells = Object.fromEntries(tasks.map((t) => [t, pick((s) => s.tasks[t] ?? null)]));
  const average = pick((s) => s.average);
  const normalized = pick((s) => s.normalized);
  // A cell is known when every seed finished; a partial mean would silently mix seeds.
  const full = (x: Stat) => (x.values.every((v) => v !== null) ? x : { mean: null, sd: null, values: x.values });
  return {
    ours: { tasks: Object.fromEntries(tasks.map((t) => [t, full(cells[t]!).mean])), average: full(average).mean, normalized: full(normalized).mean },
    sd: { tasks: Object.fromEntries(tasks.map((t) => [t, full(cells[t]!).sd])), average: full(average).sd, normalized: full(normalized).sd },
  };
}

export function collectResults(plan: Plan, store: JobStore): ResultsTable {
  const { experiment } = plan;
  const tasks = experiment.tasks.map((t) => t.name);
  const headers = experiment.tasks.map((t) => (t.source.kind === "glue" && t.name === t.source.task ? GLUE_DISPLAY_NAMES[t.source.task] : t.name));
  const pointsBesidesSeed = plan.sweep.varying.filter((axis) => axis !== "seed");
  const singlePoint = pointsBesidesSeed.length === 0;
  const paperRow = (method: string, init: string, unique: boolean) =>
    singlePoint && unique ? paperScores(experiment.paper_results.find((r) => r.method === method && r.init === init), tasks) : null;

  // Individually fine-tuned scores, per (init, point incl. seed): the reference of the normalised score.
  const individual = new Map<string, Record<string, number | null>>();
  const metricOf = new Map<string, string>();
  const baseline = new Map<string, number | null>();
  const rows: ResultRow[] = [];
  const trainJobs = plan.jobs.filter((j) => j.kind === "train");
  for (const job of trainJobs) {
    const metrics = store.isDone(job.key) ? store.metrics<TrainMetrics>(job.key) : null;
    const key = `${job.coords.init}|${formatCoords(job.coords.point ?? {})}`;
    const scores = individual.get(key) ?? {};
    scores[job.coords.task!] = percent(metrics?.best?.score);
    individual.set(key, scores);
    if (metrics?.metric) metricOf.set(job.coords.task!, metrics.metric);
    if (metrics?.majority_baseline && !baseline.has(job.coords.task!)) baseline.set(job.coords.task!, percent(metrics.majority_baseline.score));
  }
  // The trivial baseline of each task (the training majority class, or the training mean for
  // regression, scored on the eval split): the number a fine-tuned model has to beat.
  if (baseline.size > 0) {
    const values = tasks.map((t) => baseline.get(t) ?? null);
    const none: Scores = { tasks: Object.fromEntries(tasks.map((t) => [t, null])), average: null, normalized: null };
    rows.push({
      method: "Trivial baseline",
      methodName: "baseline",
      init: "–",
      point: "",
      ours: { tasks: Object.fromEntries(tasks.map((t) => [t, baseline.get(t) ?? null])), average: mean(values), normalized: null },
      sd: none,
      seeds: 1,
      jobs: [],
      paper: null,
    });
  }
  for (const init of plan.sweep.inits) {
    const mine = trainJobs.filter((j) => j.coords.init === init);
    for (const point of [...new Set(mine.map(groupPoint))]) {
      const group = mine.filter((j) => groupPoint(j) === point);
      const seeds = [...new Set(group.map((j) => formatCoords(j.coords.point ?? {})))];
      const perSeed = seeds.map((full): Scores => {
        const scores = individual.get(`${init}|${full}`) ?? {};
        const values = tasks.map((t) => scores[t] ?? null);
        return { tasks: scores, average: mean(values), normalized: values.every((v) => v !== null) ? 100 : null };
      });
      const { ours, sd } = aggregate(tasks, perSeed);
      rows.push({
        method: methodDisplayName("individual"),
        methodName: "individual",
        init,
        point,
        ours,
        sd,
        seeds: perSeed.filter((s) => s.average !== null).length,
        jobs: group.filter((j) => store.isDone(j.key)).map((j) => j.key),
        paper: paperRow("individual", init, true),
      });
    }
  }

  const evaluations = plan.jobs.filter((j) => j.kind === "evaluate");
  const groupKey = (job: Job) => `${job.coords.method!.label}|${job.coords.init}|${groupPoint(job)}`;
  const groups = new Map<string, Job[]>();
  for (const job of evaluations) groups.set(groupKey(job), [...(groups.get(groupKey(job)) ?? []), job]);

  const robustness: RobustnessRow[] = [];
  for (const group of groups.values()) {
    const { method, init } = group[0]!.coords as Required<Pick<Job["coords"], "method" | "init">>;
    const perSeed = group.map((job): Scores => {
      const metrics = store.isDone(job.key) ? store.metrics<EvaluateMetrics>(job.key) : null;
      const scores = Object.fromEntries(tasks.map((t) => [t, percent(metrics?.tasks?.[t]?.score)]));
      const values = tasks.map((t) => scores[t] ?? null);
      const reference = individual.get(`${init}|${formatCoords(job.coords.point ?? {})}`) ?? {};
      // As the evaluate op computes it: a task whose individual score is <= 0 (Matthews 0) has no ratio.
      const ratios = tasks.flatMap((t) => {
        const merged = scores[t] ?? null;
        const alone = reference[t] ?? null;
        return merged === null || alone === null ? [null] : alone > 0 ? [(100 * merged) / alone] : [];
      });
      return {
        tasks: scores,
        average: mean(values) ?? percent(metrics?.average),
        // What the evaluation reported, else the same ratio from the training jobs' scores.
        normalized: percent(metrics?.normalized) ?? mean(ratios),
      };
    });
    const { ours, sd } = aggregate(tasks, perSeed);
    const sameMethod = evaluations.filter((e) => e.coords.method!.name === method.name && e.coords.init === init).length === group.length;
    const label = method.label.replace(method.name, methodDisplayName(method.name));
    const point = groupPoint(group[0]!);
    rows.push({
      method: label,
      methodName: method.name,
      init,
      point,
      ours,
      sd,
      seeds: perSeed.filter((s) => s.average !== null).length,
      jobs: group.filter((j) => store.isDone(j.key)).map((j) => j.key),
      paper: paperRow(method.name, init, sameMethod),
    });
    robustness.push(robustnessRow(plan, store, group, label, init, point, perSeed));
  }

  const seeds = [...new Set(trainJobs.map(seedOf).filter((s): s is number => s !== null))].sort((a, b) => a - b);
  const robust = robustness.filter((r) => r.gridMean.values.some((v) => v !== null) || r.lambdas.some((l) => l !== null));
  return {
    name: experiment.name,
    tasks,
    headers,
    metrics: tasks.map((t) => metricOf.get(t) ?? declaredMetric(experiment.tasks.find((x) => x.name === t)!)),
    rows,
    robustness: robust,
    paired: pairedDifferences(robust),
    grid: experiment.evaluation.lambdas.length ? [...new Set([...experiment.evaluation.lambdas, 1])].sort((a, b) => a - b) : [],
    seeds,
    hasPaper: rows.some((r) => r.paper !== null),
    hasPoints: !singlePoint,
  };
}

function robustnessRow(plan: Plan, store: JobStore, group: Job[], method: string, init: string, point: string, perSeed: Scores[]): RobustnessRow {
  const curves = group.map((job) => (store.isDone(job.key) ? (store.metrics<EvaluateMetrics>(job.key)?.curve ?? null) : null));
  const normalized = (curve: EvaluateMetrics["curve"]) => (curve ?? []).map((p) => percent(p.normalized)).filter((v): v is number => v !== null);
  const lambdas = group.map((job) => {
    const merge = plan.byKey.get(job.inputs[0]!)!;
    if (!merge.coords.method?.search || !("lambda" in merge.coords.method.search)) return null;
    return store.isDone(merge.key) ? (store.result<{ lambda?: number }>(merge.key)?.lambda ?? null) : null;
  });
  const grids = group.map((job) => {
    const search = plan.byKey.get(job.inputs[0]!)!.coords.method?.search;
    return search && "lambda" in search ? (search.lambda as number[]) : null;
  });
  const atEdge = lambdas.some((l, i) => l !== null && grids[i] !== null && (l === Math.min(...grids[i]!) || l === Math.max(...grids[i]!)));
  return {
    method,
    methodName: group[0]!.coords.method!.name,
    init,
    point,
    chosen: stat(perSeed.map((s) => s.normalized)),
    gridMean: stat(curves.map((c) => (normalized(c).length ? normalized(c).reduce((a, v) => a + v, 0) / normalized(c).length : null))),
    gridWorst: stat(curves.map((c) => (normalized(c).length ? Math.min(...normalized(c)) : null))),
    atOne: stat(curves.map((c) => percent(c?.find((p) => p.lambda === 1)?.normalized))),
    lambdas,
    atEdge,
    jobs: group.map((j) => j.key),
  };
}

/** OSRM minus Gaussian, seed by seed, for every merge measured under both inits. */
function pairedDifferences(rows: RobustnessRow[]): PairedRow[] {
  const out: PairedRow[] = [];
  for (const osrm of rows.filter((r) => r.init === "osrm")) {
    const gaussian = rows.find((r) => r.init === "gaussian" && r.method === osrm.method && r.point === osrm.point);
    if (!gaussian) continue;
    for (const [measure, pick] of [
      ["chosen", (r: RobustnessRow) => r.chosen],
      ["grid mean", (r: RobustnessRow) => r.gridMean],
      ["grid worst", (r: RobustnessRow) => r.gridWorst],
      ["lambda 1", (r: RobustnessRow) => r.atOne],
    ] as const) {
      const a = pick(osrm).values;
      const b = pick(gaussian).values;
      const differences = a.flatMap((v, i) => (v !== null && b[i] !== null && b[i] !== undefined ? [v - b[i]!] : []));
      if (differences.length === 0) continue;
      const s = stat(differences);
      out.push({ method: osrm.method, point: osrm.point, measure, differences, mean: s.mean!, sd: s.sd, wins: differences.filter((d) => d > 0).length });
    }
  }
  return out;
}

function declaredMetric(task: Experiment["tasks"][number]): string | null {
  if (task.source.kind === "files") return task.source.metric ?? (task.source.regression ? "pearson_spearman" : "accuracy");
  if (task.source.kind === "glue") return { cola: "matthews", stsb: "pearson_spearman", mrpc: "accuracy_f1", qqp: "accuracy_f1" }[task.source.task as string] ?? "accuracy";
  return null; // a demo task: its metric is known once its training job has run
}

type Experiment = Plan["experiment"];

/** How a column names its metric. */
export const METRIC_NAMES: Record<string, string> = {
  accuracy: "acc.",
  accuracy_f1: "acc.",
  matthews: "MCC",
  pearson_spearman: "Pearson/Spearman",
  r2: "R²",
};
