/**
 * Child processes of a benchmark run and what the harness reads about them
 * from /proc: resident memory and CPU time. Linux only, like the targets.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on every Linux seen). */
const CLK_TCK = 100;

/** VmRSS of a process in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** utime + stime of a process, in µs (resolution: one clock tick, 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5); index 0 here is field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / CLK_TCK;
}

export function openFileLimit(): number | undefined {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+)/m.exec(limits);
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A free loopback port (bound and released at once; a small race with other programs is accepted). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  role: string;
  pid: number;
  command: string;
  proc: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * `node --import tsx <script>`: one process (the tsx CLI would fork a second
 * one, and /proc readings of the wrapper would miss the real work).
 */
export interface SpawnOptions {
  /** The complete environment (default: this process's). */
  env?: Record<string, string | undefined>;
  nodeFlags?: string[];
  /** Copy the child's stderr to ours as it comes (progress lines). */
  echoStderr?: boolean;
}

/** This process's environment without Parley, OpenAI and OpenTelemetry settings, so a shell's exports cannot leak into a run. */
export function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PARLEY_|OPENAI_|OTEL_)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

const live = new Set<ChildProcess>();

/** SIGKILLs every child this process started and that is still running (each by its own pid). */
export function killChildren(): void {
  for (const p of live) p.kill("SIGKILL");
}

/** Set by the harness: run children from this ahead-of-time build instead of through tsx (see build.ts). */
let builtDir: string | undefined;

export function useBuild(dir: string | undefined): void {
  builtDir = dir;
}

/**
 * Runs a repository script (`src/main.ts`, `bench/load.ts`) in one node
 * process: from the build when there is one, else `node --import tsx`
 * (the tsx CLI would fork a second process, and /proc readings of the
 * wrapper would miss the real work).
 */
export function spawnTs(role: string, script: string, args: string[], opts: SpawnOptions = {}): Child {
  const nodeFlags = opts.nodeFlags ?? [];
  const entry = builtDir ? join(builtDir, script.replace(/\.ts$/, ".js")) : script;
  const argv = builtDir ? [...nodeFlags, entry, ...args] : [...nodeFlags, "--import", "tsx", script, ...args];
  const proc = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    env: { ...(opts.env ?? process.env), NODE_NO_WARNINGS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${role}`);
  let out = "";
  let err = "";
  proc.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
    if (opts.echoStderr) process.stderr.write(d);
    err += d;
    if (err.length > 1_000_000) err = err.slice(-500_000);
  });
  live.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  const shortArgs = args.map((a) => (a.length > 80 ? `'<json ${a.length} chars>'` : a));
  return {
    role,
    pid: proc.pid,
    command: `node ${[...argv.slice(0, argv.length - args.length), ...shortArgs].join(" ")}`,
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
