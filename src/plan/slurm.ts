/**
 * The Slurm executor: a plan's jobs submitted with sbatch, each waiting for its inputs with
 * `--dependency=afterok`, each running ONE planned job through the same store, lock and resume
 * code as the local runner (`osrm run-job CONFIG --job KEY`), so a run through Slurm writes
 * exactly what a local run writes. `--requeue`: a preempted job goes back to the queue and
 * resumes from its checkpoint when it runs again (its lock, left by the earlier run of the same
 * Slurm job, is taken over at once; src/store/lock.ts).
 *
 * What was submitted is recorded per job in <output>/slurm/<key>.json (the Slurm job id, the
 * ids it waits for) beside its batch script and Slurm's output file. Submitting again skips
 * what is done and what is still queued or running, and resubmits what failed or was cancelled
 * (and what waits on a resubmitted job, whose dependency points at a dead id): a finished job is
 * never resubmitted.
 */
import { execa } from "execa";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { SlurmResources, SlurmSetting } from "../config/schema/executor.ts";
import { UsageError, OsrmError } from "../errors.ts";
import { packageRoot } from "../runtime/paths.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { JobStore } from "../store/job-store.ts";
import type { Job, JobKind } from "./job.ts";
import type { Plan } from "./planner.ts";
import { devicesOf } from "./runtime-executor.ts";

export interface SlurmRecord {
  key: string;
  label: string;
  job_id: string;
  submitted_at: string;
  /** Slurm job ids this one waits for (afterok). */
  after: string[];
  script: string;
  /** Slurm's output file pattern (%j: the job id). */
  output: string;
}

export interface SlurmState {
  state: string;
  reason: string;
  node: string;
}

/** States in which a job will still run (or runs): it is not submitted again. */
const ACTIVE = new Set(["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT"]);

export function isActive(state: SlurmState | undefined): boolean {
  // A dependency that can never be satisfied leaves a job pending forever: it is as good as failed.
  return state !== undefined && ACTIVE.has(state.state) && state.reason !== "DependencyNeverSatisfied";
}

export function slurmDir(output: string): string {
  return join(output, "slurm");
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return null;
}

/** sbatch, squeue, scancel and sinfo through execa; `env` carries SLURM_CONF where a test cluster needs it. */
export class SlurmCli {
  constructor(readonly env: NodeJS.ProcessEnv = process.env) {}

  private async run(command: string, args: string[]): Promise<string> {
    const result = await execa(command, args, { env: this.env, reject: false, timeout: 60_000 });
    if (result.exitCode !== 0) {
      const why = (String(result.stderr).trim() || String(result.stdout).trim() || (result.shortMessage ?? `exit code ${result.exitCode}`)).split("\n").slice(-3).join(" ");
      throw new OsrmError(`${command} ${args.join(" ")} failed: ${why}`);
    }
    return String(result.stdout);
  }

  found(): string | null {
    return onPath("sbatch", this.env);
  }

  async sbatch(args: string[]): Promise<string> {
    const out = (await this.run("sbatch", ["--parsable", ...args])).trim();
    const id = out.split(";")[0]!.trim(); // "id" or "id;cluster"
    if (!/^\d+$/.test(id)) throw new OsrmError(`sbatch printed '${out}' where a job id was expected`);
    return id;
  }

  /** Every listed job Slurm still knows (squeue keeps finished ones for MinJobAge). */
  async states(ids: string[]): Promise<Map<string, SlurmState>> {
    const states = new Map<string, SlurmState>();
    if (ids.length === 0) return states;
    let out: string;
    try {
      out = await this.run("squeue", ["-h", "--states=all", "-j", ids.join(","), "-o", "%i|%T|%r|%N"]);
    } catch (error) {
      // Asked only about ids Slurm has forgotten: not an error of the cluster.
      if (/Invalid job id/i.test((error as Error).message)) return states;
      throw error;
    }
    for (const line of out.split("\n")) {
      const [id, state, reason, node] = line.trim().split("|");
      if (id && state) states.set(id, { state, reason: reason ?? "", node: node ?? "" });
    }
    return states;
  }

  async scancel(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.run("scancel", ids);
  }

  /** Partitions with the generic resources (GPUs) of their nodes. */
  async partitions(): Promise<{ name: string; gres: string[] }[]> {
    const out = await this.run("sinfo", ["-h", "-o", "%R|%G"]);
    const byName = new Map<string, string[]>();
    for (const line of out.split("\n")) {
      const [name, gres] = line.trim().split("|");
      if (!name) continue;
      byName.set(name, [...(byName.get(name) ?? []), ...(gres && gres !== "(null)" ? [gres] : [])]);
    }
    return [...byName].map(([name, gres]) => ({ name, gres }));
  }
}

/** What one job of a kind asks for: the kind's own values over the defaults. */
export function resourcesFor(kind: JobKind, setting: SlurmSetting): SlurmResources {
  const own = setting[kind];
  const pick = <K extends keyof SlurmResources>(key: K) => (own[key] !== undefined ? own[key] : setting.default[key]);
  return { gpus: pick("gpus"), cpus: pick("cpus"), mem: pick("mem"), time: pick("time") };
}

/** The most GPUs one node of the partition offers ("gpu:h100:8(S:0-1)" -> 8), or 0. */
function gpusPerNode(gres: string[]): number {
  let most = 0;
  for (const entry of gres.flatMap((g) => g.split(","))) {
    const match = /^gpu(?::[^:(]+)?:(\d+)/.exec(entry.trim());
    if (match) most = Math.max(most, Number(match[1]));
  }
  return most;
}

/**
 * Everything that would make a submission fail or a job never start, before anything is
 * submitted: sbatch missing, an unknown partition, more GPUs than a node has, a training whose
 * devices its GPUs cannot hold. Each error names the setting and what was found.
 */
export async function checkSlurm(jobs: Job[], setting: SlurmSetting, cli: SlurmCli): Promise<void> {
  if (!cli.found()) {
    throw new UsageError(`executor.kind slurm: sbatch was not found on the PATH (${cli.env.PATH ?? "unset"}); run on a Slurm login node, or use the local executor`);
  }
  let partitions: { name: string; gres: string[] }[];
  try {
    partitions = await cli.partitions();
  } catch (error) {
    throw new UsageError(`executor.kind slurm: Slurm did not answer sinfo (${(error as Error).message})`);
  }
  const known = partitions.map((p) => p.name);
  if (setting.partition !== null && !known.includes(setting.partition)) {
    throw new UsageError(`executor.slurm.partition '${setting.partition}': Slurm knows the partition(s) ${known.join(", ") || "(none)"}`);
  }
  const scope = setting.partition === null ? partitions : partitions.filter((p) => p.name === setting.partition);
  const nodeGpus = Math.max(0, ...scope.map((p) => gpusPerNode(p.gres)));
  const where = setting.partition === null ? "any partition" : `partition ${setting.partition}`;
  for (const job of jobs) {
    const gpus = resourcesFor(job.kind, setting).gpus ?? 0;
    const name = setting[job.kind].gpus !== undefined ? `executor.slurm.${job.kind}.gpus` : "executor.slurm.default.gpus";
    if (gpus > nodeGpus) {
      throw new UsageError(`${name} ${gpus} (${job.label}): the nodes of ${where} have ${nodeGpus === 0 ? "no GPUs" : `at most ${nodeGpus} GPUs`} (sinfo gres: ${scope.flatMap((p) => p.gres).join(", ") || "(null)"})`);
    }
    const devices = devicesOf(job);
    if (gpus > 0 && gpus < devices) {
      throw new UsageError(`${name} ${gpus} (${job.label}) is fewer than its training.devices ${devices}: each device is a GPU of the job`);
    }
    const cpus = resourcesFor(job.kind, setting).cpus;
    if (gpus === 0 && devices > 1 && cpus != null && cpus < devices) {
      throw new UsageError(`executor.slurm.${job.kind}.cpus ${cpus} (${job.label}) is fewer than its training.devices ${devices}, which without GPUs are CPU processes`);
    }
  }
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

export interface SubmitOptions {
  setting: SlurmSetting;
  /** The config file and the --set overrides the plan came from: each job re-plans them and runs its own key. */
  configFile: string;
  overrides: string[];
  cli: SlurmCli;
  onSubmit?: (job: Job, record: SlurmRecord) => void;
}

export interface SubmitSummary {
  submitted: { job: Job; record: SlurmRecord }[];
  /** Still queued or running from an earlier submission. */
  kept: { job: Job; id: string; state: string }[];
  /** Cancelled because a job they wait for was resubmitted. */
  cancelled: string[];
  alreadyDone: number;
}

export function readRecords(output: string): Map<string, SlurmRecord> {
  const dir = slurmDir(output);
  const records = new Map<string, SlurmRecord>();
  if (!existsSync(dir)) return records;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".json")) continue;
    try {
      const record = JSON.parse(readFileSync(join(dir, name), "utf8")) as SlurmRecord;
      if (record.key && record.job_id) records.set(record.key, record);
    } catch {
      // a torn record cannot exist (atomic writes); an unrelated file is ignored
    }
  }
  return records;
}

function sbatchArgs(job: Job, setting: SlurmSetting, after: string[], script: string, output: string): string[] {
  const resources = resourcesFor(job.kind, setting);
  return [
    `--job-name=osrm-${job.key}`,
    `--output=${output}`,
    "--open-mode=append", // a requeued run appends to the same file
    `--chdir=${process.cwd()}`,
    "--nodes=1",
    "--ntasks=1",
    "--requeue",
    "--kill-on-invalid-dep=yes", // a job whose input failed is cancelled, not left pending forever
    // Two minutes before a time limit the batch process (osrm) gets SIGTERM: a training
    // finishes its step and checkpoints, and the next submission resumes it.
    "--signal=B:TERM@120",
    ...(setting.partition !== null ? [`--partition=${setting.partition}`] : []),
    ...(setting.account !== null ? [`--account=${setting.account}`] : []),
    ...(resources.gpus ? [`--gpus=${resources.gpus}`] : []),
    ...(resources.cpus ? [`--cpus-per-task=${resources.cpus}`] : []),
    ...(resources.mem ? [`--mem=${resources.mem}`] : []),
    ...(resources.time ? [`--time=${resources.time}`] : []),
    ...(after.length > 0 ? [`--dependency=afterok:${after.join(":")}`] : []),
    ...setting.sbatch_args,
    script,
  ];
}

/** Submits every job of the plan that is neither done nor still queued or running. */
export async function submitPlan(plan: Plan, options: SubmitOptions): Promise<SubmitSummary> {
  const { setting, cli } = options;
  const store = new JobStore(plan.experiment.output);
  const dir = slurmDir(plan.experiment.output);
  const records = readRecords(plan.experiment.output);
  const states = await cli.states([...records.values()].map((r) => r.job_id));
  const summary: SubmitSummary = { submitted: [], kept: [], cancelled: [], alreadyDone: 0 };
  /** The live Slurm job of each job that is not done. */
  const live = new Map<string, string>();
  const resubmitted = new Set<string>();
  const node = process.execPath;
  const cli_ = join(packageRoot, "bin", "osrm.js");

  for (const job of plan.jobs) {
    if (store.isDone(job.key)) {
      summary.alreadyDone += 1;
      continue;
    }
    const record = records.get(job.key);
    const state = record ? states.get(record.job_id) : undefined;
    const staleInputs = job.inputs.some((key) => resubmitted.has(key));
    if (record && isActive(state)) {
      if (!staleInputs) {
        live.set(job.key, record.job_id);
        summary.kept.push({ job, id: record.job_id, state: state!.state });
        continue;
      }
      await cli.scancel([record.job_id]); // it waits for a dead id: replaced below
      summary.cancelled.push(record.job_id);
    }
    const after = job.inputs.filter((key) => !store.isDone(key)).map((key) => live.get(key));
    if (after.some((id) => id === undefined)) throw new Error(`${job.label}: an input job has no Slurm job (the plan is not in dependency order)`);
    const script = join(dir, `${job.key}.sh`);
    // The same config and overrides re-plan the same graph; the run folder is given absolute.
    const overrides = options.overrides.filter((o) => !/^\s*output\s*=/.test(o));
    const command = [node, cli_, "run-job", options.configFile, ...overrides.flatMap((o) => ["--set", o]), "--set", `output=${plan.experiment.output}`, "--job", job.key];
    writeFileAtomic(script, `#!/bin/bash\n# osrm: ${job.label} (${job.key}); written by osrm run --executor slurm\nexec ${command.map(quote).join(" ")}\n`);
    const output = join(dir, `${job.key}-%j.out`);
    const id = await cli.sbatch(sbatchArgs(job, setting, after as string[], script, output));
    const submitted: SlurmRecord = { key: job.key, label: job.label, job_id: id, submitted_at: new Date().toISOString(), after: after as string[], script, output };
    writeFileAtomic(join(dir, `${job.key}.json`), JSON.stringify(submitted, null, 2) + "\n");
    live.set(job.key, id);
    resubmitted.add(job.key);
    summary.submitted.push({ job, record: submitted });
    options.onSubmit?.(job, submitted);
  }
  return summary;
}
