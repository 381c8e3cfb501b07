/**
 * Where the jobs of a run execute: here (`local`, the default) or as Slurm jobs (`slurm`), with
 * what each Slurm job asks for. These settings are the run's, not any op's: the planner never
 * reads them, so they change no job's hash, and they are checked (sbatch found, the partition
 * known to Slurm, enough GPUs for a training's devices) before anything is submitted.
 *
 *   executor:
 *     kind: slurm
 *     slurm:
 *       partition: gpu
 *       account: my-lab
 *       default: {gpus: 1, cpus: 8, mem: 64G, time: "4:00:00"}   # every job
 *       train: {time: "24:00:00"}                                 # a kind's own values win
 *       report: {gpus: 0}                                         # also stats, init, diagnose, merge, evaluate, figures
 *       sbatch_args: ["--qos=normal"]
 *
 * or on the command line: --executor slurm --set executor.slurm.partition=gpu --set executor.slurm.train.gpus=4
 */
import { z } from "zod";
import { JOB_KINDS, type JobKind } from "../../plan/job.ts";

/** Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const SLURM_TIME = /^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2})$/;

export const SlurmResources = z
  .strictObject({
    gpus: z.int().nonnegative().nullable().optional().describe("GPUs per job (sbatch --gpus); 0 or null: none asked for"),
    cpus: z.int().positive().nullable().optional().describe("CPUs per job (sbatch --cpus-per-task)"),
    mem: z
      .string()
      .regex(/^\d+[KMGT]?$/, { error: "memory is a number with an optional unit K, M, G or T (e.g. 64G)" })
      .nullable()
      .optional()
      .describe("memory per job (sbatch --mem), e.g. 64G"),
    time: z
      .string()
      .regex(SLURM_TIME, { error: 'a Slurm time limit: minutes, "HH:MM:SS" or "D-HH:MM:SS"' })
      .nullable()
      .optional()
      .describe('time limit per job (sbatch --time), e.g. "24:00:00"'),
  })
  .meta({ id: "SlurmResources" });
export type SlurmResources = z.infer<typeof SlurmResources>;

const kind = () => SlurmResources.prefault({});

export const SlurmSetting = z.strictObject({
  partition: z.string().min(1).nullable().default(null).describe("sbatch --partition (null: the cluster's default)"),
  account: z.string().min(1).nullable().default(null).describe("sbatch --account"),
  sbatch_args: z.array(z.string().min(1)).default([]).describe("extra sbatch flags, passed as given (e.g. --qos=high, --constraint=h100)"),
  default: kind().describe("what every job asks for; a kind's own entry overrides it key by key"),
  // One entry per job kind the planner makes, so a new kind is configurable as soon as it exists.
  ...(Object.fromEntries(JOB_KINDS.map((k) => [k, kind()])) as Record<JobKind, ReturnType<typeof kind>>),
});
export type SlurmSetting = z.infer<typeof SlurmSetting>;

export const Executor = z.strictObject({
  kind: z.enum(["local", "slurm"]).default("local").describe("local: jobs run in this process's machine; slurm: each job is a Slurm job (osrm run --executor slurm)"),
  slurm: SlurmSetting.prefault({}),
});
export type Executor = z.infer<typeof Executor>;
