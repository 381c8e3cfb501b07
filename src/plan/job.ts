/**
 * A job: one op call whose output is a folder named by the hash of everything that determines it.
 *
 * A job's payload is planned as a template: the op's payload (docs/ops.md) in which the places that
 * depend on where things are on disk, or on what an input job returned, are references. The
 * runner fills them in just before the call (src/plan/payload.ts). Hashes never depend on paths:
 * a reference is hashed as the hash of the job it points to, so a run folder can move.
 */
export const JOB_KINDS = ["stats", "init", "train", "diagnose", "merge", "evaluate", "figures", "report"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** The op each kind calls; `report` runs in TypeScript, the others (figures too) in the Python runtime. */
export const OP_OF_KIND = {
  stats: "collect_stats",
  init: "osrm_init",
  train: "train",
  diagnose: "diagnose",
  merge: "merge",
  evaluate: "evaluate",
  figures: "plot_report",
  report: "report",
} as const satisfies Record<JobKind, string>;
export type JobOp = (typeof OP_OF_KIND)[JobKind];

/** This job's own artifacts folder. */
export interface OwnOutRef {
  $ref: "own-out";
}
/** An input job's artifacts folder (an adapter, a merged model). */
export interface InputOutRef {
  $ref: "out";
  job: string;
}
/** A field of an input job's result (a statistics file whose name the op chooses). */
export interface InputResultRef {
  $ref: "result";
  job: string;
  field: string;
}
export type PayloadRef = OwnOutRef | InputOutRef | InputResultRef;

export const ownOut = (): OwnOutRef => ({ $ref: "own-out" });
export const outOf = (job: Job): InputOutRef => ({ $ref: "out", job: job.key });
export const resultOf = (job: Job, field: string): InputResultRef => ({ $ref: "result", job: job.key, field });

export function isPayloadRef(value: unknown): value is PayloadRef {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { $ref?: unknown }).$ref === "string";
}

/** Where a job sits in the experiment: what tables and labels are made of. */
export interface JobCoords {
  task?: string;
  init?: "gaussian" | "osrm";
  /** The sweep point's values of the axes that vary (seed, lr, rank, blocks). */
  point?: Record<string, unknown>;
  /** label: the name plus the hyperparameters that vary between this method's settings. */
  method?: { name: string; label: string; hyperparameters: Record<string, unknown>; search: Record<string, unknown[]> | null };
}

/** How much model work a job is, for the GPU-hour estimate; null samples = unknown data size. */
export interface JobWork {
  pass: "train" | "forward";
  samples: number | null;
}

export interface Job {
  /** `<kind>-<first 12 hex of hash>`: the job's folder name. */
  key: string;
  kind: JobKind;
  op: JobOp;
  hash: string;
  /** Human name: "train sst2 osrm", "merge ties lambda=0.5 gaussian". */
  label: string;
  /** Keys of the jobs whose outputs this one reads; they are done before it starts. */
  inputs: string[];
  /** What was hashed: the resolved config slice (a reference to another job is hashed as that job's hash). */
  identity: unknown;
  /** The op's payload with references (see PayloadRef). */
  payload: Record<string, unknown>;
  coords: JobCoords;
  work: JobWork | null;
}
