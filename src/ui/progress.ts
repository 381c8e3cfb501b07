/**
 * How progress is shown: bars on a terminal (cli-progress), plain throttled lines when stderr is
 * not a terminal (CI logs, pipes), JSON lines under --json, nothing when quiet.
 *
 * On a terminal every bar names the job it belongs to ("train spam osrm", "... · eval"), a job's
 * bars are removed when it ends, one line on top shows the whole run (jobs done of total, elapsed,
 * the remaining time once a job has finished: src/ui/eta.ts), and log lines go through the bar
 * library, which prints them above the bars between redraws, so the two never overwrite each other.
 */
import cliProgress from "cli-progress";
import type { ProgressEvent } from "../runtime/protocol.ts";
import { formatDuration, formatNumber } from "./format.ts";

/** The job a progress event belongs to, when a run's runner reports it. */
export interface JobRef {
  key: string;
  kind: string;
  label: string;
}

/** The whole run, as the overall line shows it. */
export interface RunProgress {
  done: number;
  total: number;
  failed: number;
  /** When the run started (ms since the epoch). */
  startedAt: number;
  /** Seconds still to go as estimated at `estimatedAt`, or null while there is no estimate. */
  etaSeconds: number | null;
  estimatedAt: number;
}

export interface ProgressDisplay {
  update(event: ProgressEvent, job?: JobRef): void;
  log(message: string): void;
  /** The overall line of a run (called when a job starts or ends). */
  run(progress: RunProgress): void;
  /** A job ended: its bars go. */
  jobEnded(job: JobRef): void;
  stop(): void;
}

export type DisplayMode = "bars" | "json" | "quiet";

export function createProgressDisplay(mode: DisplayMode, stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (mode === "json") return new JsonLinesDisplay();
  if (mode === "quiet") return { update() {}, log() {}, run() {}, jobEnded() {}, stop() {} };
  return stream.isTTY ? new BarsDisplay(stream) : new PlainDisplay(stream);
}

class JsonLinesDisplay implements ProgressDisplay {
  private write(value: unknown): void {
    process.stdout.write(JSON.stringify(value) + "\n");
  }
  update(event: ProgressEvent, job?: JobRef): void {
    this.write({ type: "progress", ...(job ? { job: job.key, label: job.label } : {}), ...event });
  }
  log(message: string): void {
    this.write({ type: "log", message });
  }
  run(progress: RunProgress): void {
    const elapsed = (Date.now() - progress.startedAt) / 1000;
    this.write({ type: "run", done: progress.done, total: progress.total, failed: progress.failed, elapsed_s: elapsed, eta_s: remaining(progress) });
  }
  jobEnded(): void {}
  stop(): void {}
}

function formatMetrics(metrics: ProgressEvent["metrics"]): string {
  if (!metrics) return "";
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${typeof v === "number" ? formatNumber(v) : v}`)
    .join("  ");
}

const detailOf = (event: ProgressEvent) => [event.message, formatMetrics(event.metrics)].filter(Boolean).join("  ");

/** "train spam osrm" for the job's own task, "train spam osrm · eval" for a step inside it. */
export function barLabel(event: ProgressEvent, job?: JobRef): string {
  if (!job) return event.task;
  if (event.task === job.kind || job.label.startsWith(event.task)) return job.label;
  const inner = event.task.startsWith(job.kind + " ") ? event.task.slice(job.kind.length + 1) : event.task;
  return `${job.label} · ${inner}`;
}

function remaining(progress: RunProgress, now = Date.now()): number | null {
  if (progress.etaSeconds === null) return null;
  return Math.max(0, progress.etaSeconds - (now - progress.estimatedAt) / 1000);
}

/** The overall line: "run  12/31 jobs  elapsed 3m05s  ETA 4m10s" (plain text, no bar). */
export function runLine(progress: RunProgress, now = Date.now()): string {
  const eta = remaining(progress, now);
  const failed = progress.failed ? `  ${progress.failed} failed` : "";
  return `run  ${progress.done}/${progress.total} jobs${failed}  elapsed ${formatDuration((now - progress.startedAt) / 1000)}  ETA ${eta === null ? "after the first job" : formatDuration(eta)}`;
}

const LABEL_WIDTH = 30;
const fit = (text: string, width: number) => (text.length > width ? text.slice(0, width - 1) + "…" : text.padEnd(width));

interface BarPayload {
  label: string;
  unit: string;
  detail: string;
  counted: boolean;
  run?: RunProgress;
}

class BarsDisplay implements ProgressDisplay {
  private readonly bars = new Map<string, { bar: cliProgress.SingleBar; job?: string }>();
  private readonly multi: cliProgress.MultiBar;
  private overall: cliProgress.SingleBar | null = null;
  /** Whether a bar was ever drawn (the library is then running its redraw timer). */
  private drawing = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    const options: cliProgress.Options = {
      stream,
      clearOnComplete: true,
      hideCursor: true,
      barsize: 20,
      fps: 10,
      // Our own line format: cli-progress's duration formatter shows 60 seconds as "1m60s".
      format: (opts, params, payload: BarPayload) => {
        if (payload.run) return runLine(payload.run);
        const label = fit(payload.label, LABEL_WIDTH);
        if (!payload.counted) return ` ${label} ${payload.detail}`;
        const bar = cliProgress.Format.BarFormat(params.progress, opts);
        const eta = params.value > 0 && params.value < params.total ? `  ${formatDuration(params.eta)}` : "";
        return ` ${label} ${bar} ${params.value}/${params.total}${payload.unit ? " " + payload.unit : ""}${eta}  ${payload.detail}`;
      },
    };
    this.multi = new cliProgress.MultiBar(options, cliProgress.Presets.shades_classic);
  }

  run(progress: RunProgress): void {
    const payload: BarPayload = { label: "run", unit: "", detail: "", counted: false, run: progress };
    if (!this.overall) {
      this.overall = this.multi.create(progress.total, progress.done, payload);
      this.drawing = true;
    }
    else this.overall.update(progress.done, payload);
  }

  update(event: ProgressEvent, job?: JobRef): void {
    if (event.task === "log" && event.message) return this.log(event.message);
    const id = `${job?.key ?? ""}|${event.task}`;
    const counted = event.total !== undefined;
    const payload: BarPayload = { label: barLabel(event, job), unit: event.unit ?? "", detail: detailOf(event), counted };
    let entry = this.bars.get(id);
    if (!entry) {
      entry = { bar: this.multi.create(event.total ?? 1, event.current ?? 0, payload), job: job?.key };
      this.bars.set(id, entry);
      this.drawing = true;
    }
    if (counted) entry.bar.setTotal(event.total!);
    entry.bar.update(event.current ?? 0, payload);
  }

  jobEnded(job: JobRef): void {
    for (const [id, entry] of this.bars) {
      if (entry.job !== job.key) continue;
      this.multi.remove(entry.bar);
      this.bars.delete(id);
    }
  }

  log(message: string): void {
    // While bars are drawn the library prints the line above them at its next redraw; with none
    // on screen there is nothing to collide with.
    if (this.drawing) this.multi.log(message + "\n");
    else this.stream.write(message + "\n");
  }

  stop(): void {
    if (!this.drawing) return;
    this.multi.update(); // prints what is still buffered before the bars are cleared
    this.multi.stop();
    this.bars.clear();
    this.overall = null;
    this.drawing = false;
  }
}

/** Not a terminal: a line per bar at most every few seconds (and when it completes), never redraws. */
class PlainDisplay implements ProgressDisplay {
  private readonly last = new Map<string, number>();
  private ended = -1;
  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(event: ProgressEvent, job?: JobRef): void {
    if (event.task === "log" && event.message) return this.log(event.message);
    const id = `${job?.key ?? ""}|${event.task}`;
    const now = Date.now();
    const done = event.current !== undefined && event.total !== undefined && event.current >= event.total;
    if (!done && now - (this.last.get(id) ?? 0) < 3000) return;
    this.last.set(id, now);
    const count = event.total !== undefined ? ` ${event.current ?? 0}/${event.total}${event.unit ? " " + event.unit : ""}` : "";
    const detail = detailOf(event);
    const what = job ? `[${barLabel(event, job)}]` : `[${event.op}] ${event.task}`;
    this.stream.write(`${what}${count}${detail ? "  " + detail : ""}\n`);
  }

  log(message: string): void {
    this.stream.write(message + "\n");
  }

  run(progress: RunProgress): void {
    // Once at the start and after each job that ended: a log reads the run's pace without noise.
    const ended = progress.done + progress.failed;
    if (ended === this.ended) return;
    this.ended = ended;
    this.stream.write(`[${runLine(progress)}]\n`);
  }

  jobEnded(job: JobRef): void {
    for (const id of this.last.keys()) if (id.startsWith(job.key + "|")) this.last.delete(id);
  }

  stop(): void {}
}
