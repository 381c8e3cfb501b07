/**
 * The 8 GLUE tasks as the paper runs them (docs/algorithms.md, section 8). The split sizes are those of the
 * hub's `glue` dataset; the planner uses them only to estimate GPU-hours.
 */
import { z } from "zod";

export const GLUE_TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"] as const;
export const GlueTaskName = z.enum(GLUE_TASKS);
export type GlueTaskName = z.infer<typeof GlueTaskName>;

/** Number of examples in each split (MNLI validation = matched). */
export const GLUE_SPLIT_SIZES: Record<GlueTaskName, { train: number; validation: number }> = {
  cola: { train: 8551, validation: 1043 },
  sst2: { train: 67349, validation: 872 },
  mrpc: { train: 3668, validation: 408 },
  stsb: { train: 5749, validation: 1500 },
  qqp: { train: 363846, validation: 40430 },
  mnli: { train: 392702, validation: 9815 },
  qnli: { train: 104743, validation: 5463 },
  rte: { train: 2490, validation: 277 },
};

/** Each task's folder in the original GLUE download (a local glue_dir holds <dir>/<folder>/*.tsv). */
export const GLUE_FOLDERS: Record<GlueTaskName, string> = {
  cola: "CoLA",
  sst2: "SST-2",
  mrpc: "MRPC",
  stsb: "STS-B",
  qqp: "QQP",
  mnli: "MNLI",
  qnli: "QNLI",
  rte: "RTE",
};

/** How the paper's tables name the tasks, in its column order. */
export const GLUE_DISPLAY_NAMES: Record<GlueTaskName, string> = {
  cola: "CoLA",
  sst2: "SST-2",
  mrpc: "MRPC",
  stsb: "STS-B",
  qqp: "QQP",
  mnli: "MNLI",
  qnli: "QNLI",
  rte: "RTE",
};
