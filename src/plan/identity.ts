/**
 * What stands for a local path in a job's identity: the content digest of the folder or file
 * (src/plan/digest.ts), never the path, so a moved model, data folder, run folder or clone keeps
 * every finished job done. A hub model is its id (and revision); a demo task its build
 * parameters plus the version of the suite builder. Payloads keep the paths: they say where
 * things are now.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { GLUE_FOLDERS } from "../config/glue.ts";
import type { Backbone } from "../config/schema/backbone.ts";
import type { Task } from "../config/schema/task.ts";
import { pythonSourceDir } from "../runtime/paths.ts";
import { contentDigest } from "./digest.ts";

/** A content digest in place of a path in an identity. */
export interface Digested {
  digest: string;
}

const digested = (path: string): Digested => ({ digest: contentDigest(path) });

/**
 * The demo suite builder's version: as python/osrm_runtime/demo/suite.py computes it (its cache
 * folder's name), so a changed builder re-runs the jobs that read demo tasks.
 */
export function demoBuilderVersion(): string {
  const hash = createHash("sha256");
  for (const name of ["tasks.py", "corpus.py"]) hash.update(readFileSync(join(pythonSourceDir, "osrm_runtime", "demo", name)));
  return hash.digest("hex").slice(0, 12);
}

/** The model as its identity holds it: a local folder (resolved to an absolute path) by content. */
export function modelIdentity(model: Backbone): Record<string, unknown> {
  return isAbsolute(model.name_or_path) ? { ...model, name_or_path: digested(model.name_or_path) } : { ...model };
}

/** The task as its identity holds it: its data by content, a demo task with the builder's version. */
export function taskIdentity(task: Task, builderVersion: () => string): Record<string, unknown> {
  const source = task.source;
  switch (source.kind) {
    case "glue":
      // Only the task's own folder of a GLUE download: adding another task there changes nothing.
      return source.dir === null ? { ...task } : { ...task, source: { ...source, dir: digestOrMissing(join(source.dir, GLUE_FOLDERS[source.task])) } };
    case "files":
      return { ...task, source: { ...source, train: digested(source.train), eval: digested(source.eval) } };
    case "demo":
      return { ...task, source: { ...source, builder: builderVersion() } };
  }
}

/** A GLUE task folder that is not there fails when the job runs, with the op's own message. */
function digestOrMissing(path: string): Digested | { missing: string } {
  try {
    return digested(path);
  } catch {
    return { missing: path.split(/[\\/]/).pop()! };
  }
}
