/**
 * How progress from Python is shown: bars on a terminal (cli-progress), JSON lines under --json,
 * nothing when quiet. One bar per task name; events without a total show as messages.
 */
import cliProgress from "cli-progress";
import type { ProgressEvent } from "../runtime/protocol.ts";

export interface ProgressDisplay {
  update(event: ProgressEvent): void;
  log(message: string): void;
  stop(): void;
}

export type DisplayMode = "bars" | "json" | "quiet";

export function createProgressDisplay(mode: DisplayMode, stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (mode === "json") return new JsonLinesDisplay();
  if (mode === "quiet") return { update() {}, log() {}, stop() {} };
  return stream.isTTY ? new BarsDisplay(stream) : new PlainDisplay(stream);
}

class JsonLinesDisplay implements ProgressDisplay {
  update(event: ProgressEvent): void {
    process.stdout.write(JSON.stringify({ type: "progress", ...event }) + "\n");
  }
  log(message: string): void {
    process.stdout.write(JSON.stringify({ type: "log", message }) + "\n");
  }
  stop(): void {}
}

function formatMetrics(metrics: ProgressEvent["metrics"]): string {
  if (!metrics) return "";
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)) : v}`)
    .join("  ");
}

class BarsDisplay implements ProgressDisplay {
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private readonly multi: cliProgress.MultiBar;

  constructor(stream: NodeJS.WriteStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        clearOnComplete: false,
        hideCursor: true,
        format: " {task} |{bar}| {value}/{total} {unit} {eta_formatted} {detail}",
        barsize: 24,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(event: ProgressEvent): void {
    if (event.task === "log" && event.message) return this.log(event.message);
    const detail = [event.message, formatMetrics(event.metrics)].filter(Boolean).join("  ");
    const payload = { task: event.task.padEnd(14), unit: event.unit ?? "", detail };
    let bar = this.bars.get(event.task);
    if (!bar) {
      bar = this.multi.create(event.total ?? 1, event.current ?? 0, payload);
      this.bars.set(event.task, bar);
    }
    if (event.total !== undefined) bar.setTotal(event.total);
    bar.update(event.current ?? 0, payload);
  }

  log(message: string): void {
    this.multi.log(message + "\n");
  }

  stop(): void {
    this.multi.stop();
  }
}

/** Not a terminal (CI logs, pipes): a line per task at most every few seconds, never redraws. */
class PlainDisplay implements ProgressDisplay {
  private readonly last = new Map<string, number>();
  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(event: ProgressEvent): void {
    if (event.task === "log" && event.message) return this.log(event.message);
    const now = Date.now();
    const done = event.current !== undefined && event.total !== undefined && event.current >= event.total;
    if (!done && now - (this.last.get(event.task) ?? 0) < 3000) return;
    this.last.set(event.task, now);
    const count = event.total !== undefined ? ` ${event.current ?? 0}/${event.total}${event.unit ? " " + event.unit : ""}` : "";
    const detail = [event.message, formatMetrics(event.metrics)].filter(Boolean).join("  ");
    this.stream.write(`[${event.op}] ${event.task}${count}${detail ? "  " + detail : ""}\n`);
  }

  log(message: string): void {
    this.stream.write(message + "\n");
  }

  stop(): void {}
}
