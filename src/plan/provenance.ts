/**
 * What asked for a piece of work, as the adapters' model cards record it: the command line, the
 * config file and the toolkit's version. Information only: never part of a job's identity.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../runtime/paths.ts";

export interface Provenance {
  command: string | null;
  config: string | null;
  tool: string | null;
}

let tool: string | undefined;

/** "osrm-merge 0.1.0", from the package's own package.json. */
export function toolVersion(): string {
  if (tool === undefined) {
    const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { name: string; version: string };
    tool = `${pkg.name} ${pkg.version}`;
  }
  return tool;
}

const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** This process's command line as the user typed it (`osrm run my.yaml --set 'lora.rank=[4,8]'`). */
export function commandLine(argv: readonly string[] = process.argv): string {
  return ["osrm", ...argv.slice(2)].map(quote).join(" ");
}
