/** The statistics of several tasks for the commands that need them (stats, init, diagnose). */
import { resolve } from "node:path";
import type { Task } from "../config/schema/task.ts";
import { collectStats, type StatsResult } from "../ops/collect-stats.ts";
import { callOp } from "../ops/op.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { CommandContext } from "./context.ts";
import type { SamplingFlags } from "./flags.ts";
import { checkBlocks, given, type modelPayload } from "./payload-pieces.ts";

/** collect_stats for every task (cached files return at once): task name -> result. */
export async function collectStatistics(
  runtime: Runtime,
  ctx: CommandContext,
  model: ReturnType<typeof modelPayload>,
  tasks: Task[],
  sampling: SamplingFlags,
  cacheDir: string,
): Promise<Record<string, StatsResult>> {
  const out: Record<string, StatsResult> = {};
  for (const task of tasks) {
    out[task.name] = await callOp(
      runtime,
      collectStats,
      {
        model,
        task,
        blocks: checkBlocks(sampling.blocks),
        osrm: given({ samples: sampling.k, seed: sampling.seed, pooling: sampling.pooling }),
        ...given({ batch_size: sampling.batchSize }),
        cache_dir: resolve(cacheDir),
      },
      { onProgress: (e) => ctx.display.update(e), signal: ctx.signal },
    );
  }
  return out;
}
