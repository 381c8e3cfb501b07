/**
 * The osrm command line. Exit codes: 0 success, 1 failure, 2 bad usage or a bad config.
 * Errors print as one clear message (no stack unless OSRM_DEBUG=1); under --json as one JSON
 * object on stdout, `{"error": {"kind", "message", "path"?}}` (src/ui/errors.ts), same exit codes.
 */
import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commands } from "./commands/index.ts";
import { createContext, type CommandContext } from "./commands/context.ts";
import { asStorageError, OsrmError } from "./errors.ts";
import { PythonError } from "./runtime/errors.ts";
import { packageRoot } from "./runtime/paths.ts";
import { errorJson } from "./ui/errors.ts";

/** --json among the program's arguments (known before commander parses them, for its own usage errors). */
const jsonOutput = (() => {
  const args = process.argv.slice(2);
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
})();

const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;

export function buildProgram(signal: AbortSignal): Command {
  const program = new Command("osrm")
    .description(
      "LoRA fine-tuning with OSRM initialisation, model merging and evaluation.\n" +
        "Orthogonal Subspaces for Robust Model Merging (Zhang and Zhou, ACL 2025).",
    )
    .version(version, "-V, --version")
    .option("--json", "machine-readable output: JSON lines for progress and the result")
    .option("-q, --quiet", "no progress display")
    .showHelpAfterError(!jsonOutput && "(run with --help for usage)")
    // Under --json a usage error is reported as JSON by report(), not as commander's text.
    .configureOutput({ outputError: (text, write) => (jsonOutput ? undefined : write(text)) })
    .exitOverride();
  let ctx: CommandContext | undefined;
  const context = () => (ctx ??= createContext(program, signal));
  for (const register of commands) register(program, context);
  return program;
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    const code = error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0 ? 0 : 2;
    if (code !== 0 && jsonOutput) process.stdout.write(errorJson(error) + "\n");
    return code;
  }
  // A file-system refusal that no command named (disk full, read-only) still names its path.
  error = asStorageError(error) ?? error;
  const message = error instanceof Error ? error.message : String(error);
  if (jsonOutput) process.stdout.write(errorJson(error) + "\n");
  else process.stderr.write(`osrm: ${message}\n`);
  if (process.env.OSRM_DEBUG && error instanceof Error && error.stack) process.stderr.write(error.stack + "\n");
  // The library's own text and the Python traceback: for debugging, never on the plain screen.
  if (process.env.OSRM_DEBUG && error instanceof PythonError) {
    if (error.detail) process.stderr.write(`detail: ${error.detail}\n`);
    if (error.traceback) process.stderr.write(error.traceback.trimEnd() + "\n");
  }
  if (error instanceof OsrmError) return error.exitCode;
  return 1;
}

async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  // SIGTERM (what Slurm sends at a time limit or on preemption, and `kill`) stops like Ctrl-C:
  // the running training checkpoints, locks are released; the exit code is 128 + the signal.
  let stopCode = 130;
  const stop = (code: number, what: string) => () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(code);
    stopCode = code;
    process.stderr.write(`\nosrm: stopping on ${what} (${what === "SIGINT" ? "Ctrl-C" : "the signal"} again to force)\n`);
    controller.abort();
  };
  process.on("SIGINT", stop(130, "SIGINT"));
  process.on("SIGTERM", stop(143, "SIGTERM"));
  const program = buildProgram(controller.signal);
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    process.exitCode = report(error);
  }
  if (controller.signal.aborted) process.exitCode = stopCode; // whatever the interrupted command reported
}

await main();
