/**
 * The planner: a pure function from an Experiment to the graph of jobs that produces its results.
 *
 *   stats    per task (and block set)      only when some init is osrm
 *   init     per task, lora point, osrm settings
 *   train    per task, init, sweep point
 *   diagnose per init, sweep point             the interference matrix of the trained adapters,
 *                                              when statistics exist (some init is osrm)
 *   merge    per method setting, init, sweep point   (the adapters of every task)
 *   evaluate per merge
 *   report   one, over every train and evaluate job
 *
 * Each job's identity holds only what determines its output, so a knob re-runs exactly the jobs
 * that depend on it (changing the learning rate keeps the statistics and the OSRM inits). It never
 * holds a path: a local model or data file counts by its content digest, an input job by its hash
 * (src/plan/identity.ts), so a run folder or a clone can move and keep every finished job done.
 */
import type { Experiment } from "../config/resolve.ts";
import { GLUE_SPLIT_SIZES } from "../config/glue.ts";
import { methodDisplayName, type MergeSetting } from "../config/schema/merge-methods.ts";
import type { InitKind } from "../config/schema/osrm.ts";
import type { Task } from "../config/schema/task.ts";
import { RUN_ONLY_TRAINING_KNOBS, type TrainingSetting } from "../config/schema/training.ts";
import { CanonicalJson, canonicalJson, deepFreeze, sha256 } from "./hash.ts";
import { demoBuilderVersion, modelIdentity, taskIdentity } from "./identity.ts";
import { toolVersion } from "./provenance.ts";
import { isPayloadRef, outOf, ownOut, resultOf, OP_OF_KIND, type Job, type JobCoords, type JobKind, type JobWork } from "./job.ts";
import { expandMergeMethod, expandSweep, formatCoords, pointCoords, type Sweep, type SweepPoint } from "./sweep.ts";

export interface Plan {
  experiment: Experiment;
  sweep: Sweep;
  /** In dependency order: every job comes after its inputs. */
  jobs: Job[];
  byKey: Map<string, Job>;
  /** What a job's hash was taken of, as JSON: digests for local paths, hashes for input jobs (job.json records it). */
  identityOf(job: Job): unknown;
}

interface JobSpec {
  kind: JobKind;
  label: string;
  inputs: Job[];
  payload: Record<string, unknown>;
  /** What determines the output, when narrower than the payload (default: the payload); references to other jobs count as their hashes. */
  identity?: Record<string, unknown>;
  coords: JobCoords;
  work: JobWork | null;
}

class GraphBuilder {
  readonly jobs: Job[] = [];
  readonly byKey = new Map<string, Job>();
  /** Payload objects (the shared, frozen model and tasks) hashed as their location-free identity. */
  private readonly standIns = new Map<object, unknown>();
  /** References are hashed as the hash of the job they point to, never as a path. */
  readonly json: CanonicalJson = new CanonicalJson((value) => {
    const standIn = this.standIns.get(value);
    if (standIn !== undefined) return this.json.write(standIn);
    if (!isPayloadRef(value)) return undefined;
    if (value.$ref === "own-out") return '"$own-out"';
    const field = value.$ref === "result" ? `,"field":${JSON.stringify(value.field)}` : "";
    return `{"$ref":"${value.$ref}"${field},"job":"${this.byKey.get(value.job)!.hash}"}`;
  });

  /** `value` (a frozen object shared by payloads) is hashed as `identity`. */
  standIn(value: object, identity: unknown): void {
    this.standIns.set(value, deepFreeze(identity));
  }

  add(spec: JobSpec): Job {
    const op = OP_OF_KIND[spec.kind];
    const identity = spec.identity ?? spec.payload;
    const inputs = spec.inputs.map((j) => JSON.stringify(j.hash)).join(",");
    const hash = sha256(`{"identity":${this.json.write(identity)},"inputs":[${inputs}],"kind":${JSON.stringify(spec.kind)},"op":${JSON.stringify(op)}}`);
    const key = `${spec.kind}-${hash.slice(0, 12)}`;
    const existing = this.byKey.get(key);
    if (existing) return existing; // the same work asked for twice (e.g. a method listed twice)
    const job: Job = { key, kind: spec.kind, op, hash, label: spec.label, inputs: spec.inputs.map((j) => j.key), identity, payload: spec.payload, coords: spec.coords, work: spec.work };
    this.jobs.push(job);
    this.byKey.set(key, job);
    return job;
  }
}

function splitSize(task: Task, split: "train" | "validation"): number | null {
  if (task.source.kind !== "glue") return null;
  const size = GLUE_SPLIT_SIZES[task.source.task][split];
  const cap = split === "train" ? task.max_train : task.max_eval;
  return cap === null ? size : Math.min(size, cap);
}

function sumOrNull(values: (number | null)[]): number | null {
  return values.some((v) => v === null) ? null : values.reduce<number>((a, v) => a + v!, 0);
}

/** The `training` payload piece for one task at one sweep point: per-task values win. */
export function trainingFor(experiment: Experiment, task: string, point: SweepPoint): TrainingSetting {
  const { per_task: perTask, ...training } = experiment.training;
  const setting: TrainingSetting = { ...training, lr: point.lr, seed: point.seed };
  for (const [knob, values] of Object.entries(perTask)) {
    const value = values?.[task];
    if (value !== undefined) (setting as unknown as Record<string, number>)[knob] = value;
  }
  return setting;
}

export interface PlanOptions {
  /** The command line that plans (for the adapters' model cards; not part of any identity). */
  command?: string;
}

export function planExperiment(experiment: Experiment, options: PlanOptions = {}): Plan {
  const graph = new GraphBuilder();
  const sweep = expandSweep(experiment);
  // Shared by many payloads and never changed: frozen, so their canonical text is written once.
  const { backbone: model, tasks, osrm } = deepFreeze(structuredClone(experiment));
  let builder: string | undefined;
  const builderVersion = () => (builder ??= demoBuilderVersion());
  graph.standIn(model, modelIdentity(model));
  for (const task of tasks) graph.standIn(task, taskIdentity(task, builderVersion));
  const batchSize = experiment.training.eval_batch_size;
  const blocksVary = sweep.varying.includes("blocks");

  // stats: every task's layer-input statistics, once per block set. The sampling settings and the
  // pooling determine the file (a `masked` file holds no all-positions means); the variant and
  // weighting only matter to the init.
  // `osrm.seed: training` ties the statistics' sample to each sweep point's training seed, so
  // that seeds repeat the whole experiment, the OSRM subspace included.
  const osrmSettings = new Map<number, typeof osrm>();
  const osrmAt = (point: SweepPoint) => {
    const seed = osrm.seed === "training" ? point.seed : osrm.seed;
    if (!osrmSettings.has(seed)) osrmSettings.set(seed, deepFreeze({ ...osrm, seed }));
    return osrmSettings.get(seed)!;
  };
  const statsKey = (point: SweepPoint) => `${point.blocks.join(",")}|${osrmAt(point).seed}`;
  const seedVaries = osrm.seed === "training" && sweep.varying.includes("seed");

  const statsJobs = new Map<string, Map<string, Job>>();
  if (sweep.inits.includes("osrm")) {
    for (const point of sweep.points) {
      if (statsJobs.has(statsKey(point))) continue;
      const setting = osrmAt(point);
      const perTask = new Map<string, Job>();
      for (const task of tasks) {
        const payload = { model, task, blocks: point.blocks, osrm: setting, max_length: task.max_length, batch_size: batchSize, cache_dir: ownOut() };
        // The release variant collects its own statistics (its sample, padding and dtype).
        const sampling =
          setting.variant === "release"
            ? { samples: setting.samples, seed: setting.seed, variant: "release" }
            : { samples: setting.samples, seed: setting.seed, pooling: setting.pooling };
        const identity = { ...payload, osrm: sampling };
        const where = [blocksVary ? `blocks=${point.blocks.join("+")}` : "", seedVaries ? `seed=${setting.seed}` : ""].filter(Boolean).join(" ");
        perTask.set(
          task.name,
          graph.add({
            kind: "stats",
            label: `stats ${task.name}${where ? " " + where : ""}`,
            inputs: [],
            payload,
            identity,
            coords: { task: task.name, point: { ...(blocksVary ? { blocks: point.blocks } : {}), ...(seedVaries ? { seed: setting.seed } : {}) } },
            work: { pass: "forward", samples: setting.samples },
          }),
        );
      }
      statsJobs.set(statsKey(point), perTask);
    }
  }

  const loraSettings = new Map<string, object>();
  const loraAt = (point: SweepPoint) => {
    const id = `${point.rank}|${point.blocks.join(",")}`;
    if (!loraSettings.has(id)) loraSettings.set(id, deepFreeze({ ...experiment.lora, rank: point.rank, blocks: [...point.blocks] }));
    return loraSettings.get(id)!;
  };
  const loraVarying = sweep.varying.filter((axis) => axis === "rank" || axis === "blocks");

  // init: OSRM's A from the other tasks' statistics; shared by every learning rate (and every
  // seed unless the statistics follow the training seed).
  const initJobs = new Map<string, Job>();
  const initJob = (task: Task, point: SweepPoint): Job => {
    const id = `${task.name}|${point.rank}|${statsKey(point)}`;
    const known = initJobs.get(id);
    if (known) return known;
    const stats = statsJobs.get(statsKey(point))!;
    const others = tasks.filter((t) => t.name !== task.name);
    const initVarying = seedVaries ? [...loraVarying, "seed" as const] : loraVarying;
    const job = graph.add({
      kind: "init",
      label: `init ${task.name}${initVarying.length ? " " + formatCoords(pointCoords(point, initVarying)) : ""}`,
      inputs: others.map((t) => stats.get(t.name)!),
      payload: {
        task: task.name,
        stats: Object.fromEntries(others.map((t) => [t.name, resultOf(stats.get(t.name)!, "file")])),
        lora: loraAt(point),
        osrm: osrmAt(point),
        out: ownOut(),
      },
      coords: { task: task.name, init: "osrm", point: pointCoords(point, initVarying) },
      work: null,
    });
    initJobs.set(id, job);
    return job;
  };

  // The same training settings serve every init and rank: one frozen object per (task, lr, seed).
  const trainingSettings = new Map<string, TrainingSetting>();
  const trainingAt = (task: Task, point: SweepPoint) => {
    const id = `${task.name}|${point.lr}|${point.seed}`;
    if (!trainingSettings.has(id)) trainingSettings.set(id, deepFreeze(trainingFor(experiment, task.name, point)));
    return trainingSettings.get(id)!;
  };
  const gaussianInit = deepFreeze({ kind: "gaussian" });
  const provenance = deepFreeze({ command: options.command ?? null, config: experiment.file, tool: toolVersion() });

  const trainJob = (task: Task, init: InitKind, point: SweepPoint): Job => {
    const initialiser = init === "osrm" ? initJob(task, point) : null;
    const training = trainingAt(task, point);
    const coords = pointCoords(point, sweep.varying);
    const train = splitSize(task, "train");
    const payload = {
      model,
      task,
      lora: loraAt(point),
      training,
      init: initialiser ? { kind: "osrm", adapter: outOf(initialiser) } : gaussianInit,
      out: ownOut(),
    };
    // How many devices train it and how often it checkpoints do not change what it computes
    // (the global batch is kept): a finished training is not redone when they change.
    const outcome = Object.fromEntries(Object.entries(training).filter(([knob]) => !(RUN_ONLY_TRAINING_KNOBS as readonly string[]).includes(knob)));
    return graph.add({
      kind: "train",
      label: `train ${task.name} ${init}${sweep.varying.length ? " " + formatCoords(coords) : ""}`,
      inputs: initialiser ? [initialiser] : [],
      payload: { ...payload, provenance },
      identity: { ...payload, training: outcome },
      coords: { task: task.name, init, point: coords },
      work: { pass: "train", samples: train === null ? null : train * training.epochs },
    });
  };

  const settings = experiment.merge.methods.flatMap(expandMergeMethod);
  const methodLabel = labelMethods(settings);
  const { holdout, select, data } = deepFreeze(structuredClone(experiment.merge));
  const split = experiment.evaluation.split;
  const grid = experiment.evaluation.lambdas;
  const robustness = grid.length ? deepFreeze([...new Set([...grid, 1])].sort((a, b) => a - b)) : null;
  const evalSamples = sumOrNull(tasks.map((t) => splitSize(t, split === "train" ? "train" : "validation")));

  const trainJobs: Job[] = [];
  const diagnoseJobs: Job[] = [];
  const evaluateJobs: Job[] = [];
  for (const point of sweep.points) {
    for (const init of sweep.inits) {
      const adapters = tasks.map((task) => trainJob(task, init, point));
      trainJobs.push(...adapters);
      const coords = pointCoords(point, sweep.varying);
      const pointLabel = `${init}${sweep.varying.length ? " " + formatCoords(coords) : ""}`;
      const stats = statsJobs.get(statsKey(point));
      if (stats && tasks.length > 1) {
        // How much each adapter shifts every task's layer outputs (docs/algorithms.md, section 5): the heat map
        // that explains a merge result, for Gaussian and OSRM adapters alike.
        diagnoseJobs.push(
          graph.add({
            kind: "diagnose",
            label: `interference ${pointLabel}`,
            inputs: [...adapters, ...tasks.map((t) => stats.get(t.name)!)],
            payload: {
              model,
              adapters: tasks.map((task, i) => ({ task: task.name, path: outOf(adapters[i]!) })),
              stats: Object.fromEntries(tasks.map((t) => [t.name, resultOf(stats.get(t.name)!, "file")])),
              title: `${experiment.name}: ${pointLabel} adapters`,
              out: ownOut(),
            },
            coords: { init, point: coords },
            work: null,
          }),
        );
      }
      for (const setting of settings) {
        const method = { name: setting.name, label: methodLabel(setting), hyperparameters: setting.hyperparameters, search: setting.search };
        const merge = graph.add({
          kind: "merge",
          label: `merge ${methodLabel(setting)} ${pointLabel}`,
          inputs: adapters,
          payload: {
            model,
            adapters: tasks.map((task, i) => ({ task, path: outOf(adapters[i]!) })),
            method: { name: setting.name, ...setting.hyperparameters },
            // Only searches and data-driven methods read these: other merges do not depend on them.
            ...(setting.search ? { search: { grid: setting.search, holdout, select } } : {}),
            ...(setting.needsData ? { data } : {}),
            out: ownOut(),
          },
          coords: { init, point: coords, method },
          work: null,
        });
        evaluateJobs.push(
          graph.add({
            kind: "evaluate",
            label: `evaluate ${methodLabel(setting)} ${pointLabel}`,
            inputs: [merge, ...adapters],
            payload: {
              model,
              merged: outOf(merge),
              tasks: tasks.map((task, i) => ({ task, adapter: outOf(adapters[i]!) })),
              split,
              batch_size: batchSize,
              // 1 is always on the curve: the score without any tuning of the scale.
              ...(robustness ? { lambdas: robustness } : {}),
              // The individually fine-tuned scores, for the normalised score.
              individual: Object.fromEntries(tasks.map((task, i) => [task.name, resultOf(adapters[i]!, "score")])),
            },
            coords: { init, point: coords, method },
            work: { pass: "forward", samples: evalSamples },
          }),
        );
      }
    }
  }

  // The figures that compare across jobs (both inits on one axis, one colour scale), drawn from
  // the finished jobs' results, seeds apart.
  const seedOf = (job: Job) => (sweep.varying.includes("seed") ? ((job.coords.point?.seed as number | undefined) ?? null) : null);
  const displayLabel = (job: Job) => job.coords.method!.label.replace(job.coords.method!.name, methodDisplayName(job.coords.method!.name));
  const searched = evaluateJobs.map((e) => graph.byKey.get(e.inputs[0]!)!).filter((m) => m.coords.method?.search && "lambda" in m.coords.method.search);
  const figures = graph.add({
    kind: "figures",
    label: "figures",
    inputs: [...new Set([...trainJobs, ...diagnoseJobs, ...evaluateJobs, ...searched])],
    payload: {
      out: ownOut(),
      curves: robustness
        ? evaluateJobs.map((job) => ({ method: displayLabel(job), init: job.coords.init!, seed: seedOf(job), points: resultOf(job, "curve") }))
        : [],
      chosen: searched.map((job) => ({ method: displayLabel(job), init: job.coords.init!, seed: seedOf(job), lambda: resultOf(job, "lambda") })),
      heatmaps: diagnoseJobs.map((job) => ({
        init: job.coords.init!,
        seed: seedOf(job),
        tasks: resultOf(job, "tasks"),
        inputs: resultOf(job, "inputs"),
        matrix: resultOf(job, "matrix"),
      })),
      losses: trainJobs.map((job) => ({ task: job.coords.task!, init: job.coords.init!, seed: seedOf(job), history: resultOf(job, "history") })),
    },
    coords: {},
    work: null,
  });

  const reportInputs = [...new Set([...trainJobs, ...diagnoseJobs, ...evaluateJobs, figures])];
  graph.add({
    kind: "report",
    label: "report",
    inputs: reportInputs,
    payload: { name: experiment.name, tasks: tasks.map((t) => t.name), paper_results: experiment.paper_results, formats: ["md", "csv", "tex"], out: ownOut() },
    coords: {},
    work: null,
  });

  return { experiment, sweep, jobs: graph.jobs, byKey: graph.byKey, identityOf: (job) => JSON.parse(graph.json.write(job.identity)) };
}

/** Names a merge setting by its method plus the hyperparameters that differ between its settings. */
function labelMethods(settings: MergeSetting[]): (setting: MergeSetting) => string {
  const varying = new Map<string, string[]>();
  for (const setting of settings) {
    const siblings = settings.filter((s) => s.name === setting.name);
    const keys = Object.keys(setting.hyperparameters).filter((k) => new Set(siblings.map((s) => canonicalJson(s.hyperparameters[k]))).size > 1);
    varying.set(setting.name, keys);
  }
  return (setting) => {
    const keys = varying.get(setting.name) ?? [];
    const parts = [setting.name, ...keys.map((k) => `${k}=${String(setting.hyperparameters[k])}`)];
    if (setting.search) parts.push(`search(${Object.keys(setting.search).join(",")})`);
    return parts.join(" ");
  };
}
