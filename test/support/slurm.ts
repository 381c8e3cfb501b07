/**
 * A real single-node Slurm cluster for tests: munged, slurmctld and slurmd from Debian's
 * slurm-wlm and munge packages, started in the foreground as children of the test (root is
 * needed, as on CI), with a private config (SLURM_CONF), munge socket, ports and state folders
 * in a temporary directory, so nothing of the machine's own Slurm or munge is touched. Every
 * daemon is stopped by its pid at the end.
 *
 * `startSlurm()` returns null, with the reason, only where slurmctld cannot be found; .ci/run
 * installs the packages, so on CI these tests run.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, hostname, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export interface SlurmCluster {
  dir: string;
  /** The environment every Slurm command (and the jobs, through sbatch's export) needs. */
  env: NodeJS.ProcessEnv;
  node: string;
  stop(): Promise<void>;
}

function which(command: string): string | null {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", ...(process.env.PATH ?? "").split(":")]) {
    const path = join(dir, command);
    if (dir && existsSync(path)) return path;
  }
  return null;
}

/** Why the Slurm tests cannot run here, or null when they can. */
export function slurmUnavailable(): string | null {
  if (!which("slurmctld") || !which("slurmd") || !which("sbatch")) return "slurmctld, slurmd or sbatch not found (apt-get install -y slurm-wlm munge; .ci/run does)";
  if (!which("munged")) return "munged not found (apt-get install -y munge)";
  if (process.getuid?.() !== 0) return "the test cluster's daemons must run as root (CI does)";
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function until(what: string, test: () => boolean, timeoutMs: number, daemons: ChildProcess[], logs: string[], stderr: Map<string, string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    const dead = daemons.find((d) => d.exitCode !== null || d.signalCode !== null);
    if (dead || Date.now() > deadline) {
      const tail = [
        ...logs.filter(existsSync).map((f) => `${f}:\n${readFileSync(f, "utf8").split("\n").slice(-15).join("\n")}`),
        ...[...stderr].map(([command, text]) => `${command} stderr:\n${text}`),
      ].join("\n");
      throw new Error(`the test Slurm cluster did not start (${what}${dead ? `; ${dead.spawnfile} exited` : ""})\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startSlurm(): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), "osrm-slurm-"));
  chmodSync(dir, 0o755);
  const node = hostname().split(".")[0]!;
  const munge = join(dir, "munge");
  mkdirSync(munge, { recursive: true });
  const key = join(munge, "munge.key");
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  // munged refuses to run as root; it runs as the munge user the package creates, owning its files.
  const uid = Number(execFileSync("id", ["-u", "munge"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "munge"], { encoding: "utf8" }).trim());
  chmodSync(munge, 0o755); // the socket's folder must be searchable by every user
  chownSync(munge, uid, gid);
  chownSync(key, uid, gid);
  const socket = join(munge, "munge.socket");

  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const memoryMiB = Math.floor((totalmem() / 2 ** 20) * 0.9);
  for (const sub of ["state", "spool", "log"]) mkdirSync(join(dir, sub), { recursive: true });
  const conf = join(dir, "slurm.conf");
  writeFileSync(
    conf,
    [
      "ClusterName=osrmtest",
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      "SlurmUser=root",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${socket}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "MpiDefault=none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      `StateSaveLocation=${join(dir, "state")}`,
      `SlurmdSpoolDir=${join(dir, "spool")}`,
      `SlurmctldPidFile=${join(dir, "slurmctld.pid")}`,
      `SlurmdPidFile=${join(dir, "slurmd.pid")}`,
      `SlurmctldLogFile=${join(dir, "log", "slurmctld.log")}`,
      `SlurmdLogFile=${join(dir, "log", "slurmd.log")}`,
      "ReturnToService=2",
      // Finished jobs stay visible to squeue/scontrol for 10 minutes (there is no accounting database).
      "MinJobAge=600",
      // SIGTERM, then this long before SIGKILL: a stopped training writes its checkpoint in it.
      "KillWait=30",
      "SchedulerParameters=defer_batch=0",
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} RealMemory=${memoryMiB} State=UNKNOWN`,
      "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
      "",
    ].join("\n"),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  const logs = [join(dir, "log", "slurmctld.log"), join(dir, "log", "slurmd.log"), join(munge, "munged.log")];
  const daemons: ChildProcess[] = [];
  const stderr = new Map<string, string>();
  const run = (command: string, args: string[]) => {
    const child = spawn(which(command)!, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    // Kept short: the daemons' own log files hold the rest, and a start failure shows both.
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr.set(command, ((stderr.get(command) ?? "") + chunk.toString()).slice(-2000));
    });
    daemons.push(child);
    return child;
  };
  /** Processes of this cluster's jobs (slurmstepd and what it runs): their environment names its config. */
  const jobProcesses = (): number[] => {
    const found: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`SLURM_CONF=${conf}`) && !daemons.some((d) => d.pid === Number(entry))) found.push(Number(entry));
      } catch {
        // gone, or not readable
      }
    }
    return found;
  };
  const stop = async () => {
    // Jobs still running (a test that failed half-way) are cancelled first, so no slurmstepd
    // outlives the daemons; whatever is left of them is then killed by pid.
    try {
      execFileSync("scancel", ["--full", "--user=root"], { env, stdio: "ignore" });
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline && execFileSync("squeue", ["-h", "-t", "PENDING,RUNNING,COMPLETING", "-o", "%i"], { env, encoding: "utf8" }).trim() !== "") {
        await new Promise((r) => setTimeout(r, 500));
      }
    } catch {
      // the controller is down already
    }
    for (const child of [...daemons].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of jobProcesses()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run("runuser", ["-u", "munge", "--", which("munged")!, "-F", `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${join(munge, "munged.pid")}`, `--log-file=${join(munge, "munged.log")}`, `--seed-file=${join(munge, "munged.seed")}`]);
    await until("munged's socket", () => existsSync(socket), 20_000, daemons, logs, stderr);
    run("slurmctld", ["-D", "-f", conf]);
    run("slurmd", ["-D", "-f", conf, "-N", node]);
    const idle = () => {
      try {
        return /idle/.test(execFileSync("sinfo", ["-h", "-o", "%T"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
      } catch {
        return false;
      }
    };
    await until("the node to become idle", idle, 60_000, daemons, logs, stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, env, node, stop };
}
