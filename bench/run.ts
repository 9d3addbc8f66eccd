/**
 * `npm run bench`: Parley's benchmark harness. Every scenario starts the
 * server (or a baseline) in its own process and drives it from one load
 * process of @grpc/grpc-js clients (bench/load.ts), on 127.0.0.1 only, then
 * prints and records its figures. Benchmarks are not tests: nothing here
 * asserts a timing; targets are shown beside the figures, met or not.
 *
 * Results: bench/results/<timestamp>.json and .md, and the summary on stdout.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { healthCheck, healthClient } from "./lib/client.js";
import { buildForBench, type BuildOutput } from "./lib/build.js";
import { cleanEnv, cpuMicros, freePort, killChildren, openFileLimit, REPO_ROOT, sleep, spawnTs, useBuild, type Child } from "./lib/proc.js";
import { fmt, kb, mb, ratio, type Distribution } from "./lib/stats.js";
import { loadAverage, machine, machineBusyMicros } from "./lib/system.js";
import type { LoadTask } from "./load.js";

const SCENARIOS = ["policy", "store", "ttft", "turns", "chunks", "memory", "soak", "health", "slow-reader"] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- [options]

Runs Parley's benchmark scenarios against the real server on 127.0.0.1 and
prints and records their figures (bench/results/<timestamp>.json and .md).

options:
  --quick              small counts: the whole run in about two minutes
  --scenario NAME      run only this scenario (repeatable); default: all
                       ${SCENARIOS.join(", ")}
  --concurrency N      concurrency of "turns" and its baselines (default 50) and
                       the high point of "ttft" (default 200)
  --duration S         cap on each measured load phase, in seconds
                       (default 120, quick 20; soak: 1800, quick 60)
  --soak-turns A,B     the soak's two RSS checkpoints (default 10000,100000; quick 150,600)
  --profile            run each Parley server under --cpu-prof; the profiles go to
                       bench/results/profiles/ (summarize: bench/profile-summary.ts)
  --tsx                run the server and the other children from source through
                       tsx (default: transpiled once per run with esbuild, see
                       bench/lib/build.ts; the server then starts in ~2 s, not ~8)
  --no-save            print only, write nothing under bench/results
  -h, --help           this text

Processes: the harness (this one, orchestration only), one server process
(Parley's src/main.ts, or a baseline server), one load process (bench/load.ts;
it also hosts the OpenAI-compatible simulator for "ttft"). The in-process
baseline and the policy microbenchmark run alone in their own process. Each
scenario prints which processes ran. See docs/benchmarks.md.`;

// ------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  scenarios: ScenarioName[];
  concurrency: number | undefined;
  durationS: number | undefined;
  soakTurns: [number, number] | undefined;
  save: boolean;
  profile: boolean;
  tsx: boolean;
}

function parseOptions(argv: string[]): Options | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      scenario: { type: "string", multiple: true },
      concurrency: { type: "string" },
      duration: { type: "string" },
      "soak-turns": { type: "string" },
      "no-save": { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      tsx: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const positive = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got "${v}"`);
    return n;
  };
  const scenarios = (values.scenario ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  for (const s of scenarios) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario "${s}"; scenarios: ${SCENARIOS.join(", ")}`);
  let soakTurns: [number, number] | undefined;
  if (values["soak-turns"] !== undefined) {
    const [a, b] = values["soak-turns"].split(",").map(Number);
    if (!a || !b || a <= 0 || b <= a) throw new Error(`--soak-turns must be A,B with 0 < A < B, got "${values["soak-turns"]}"`);
    soakTurns = [a, b];
  }
  const concurrency = positive("--concurrency", values.concurrency);
  return {
    quick: values.quick,
    scenarios: scenarios.length > 0 ? (scenarios as ScenarioName[]) : [...SCENARIOS],
    concurrency: concurrency === undefined ? undefined : Math.round(concurrency),
    durationS: positive("--duration", values.duration),
    soakTurns,
    save: !values["no-save"],
    profile: values.profile,
    tsx: values.tsx,
  };
}

/** Counts per mode. Quick fits the whole run in about two minutes on 2 cores. */
function paramsFor(o: Options) {
  const q = o.quick;
  const cap = o.durationS ?? (q ? 20 : 120);
  const high = o.concurrency ?? 200;
  return {
    phaseCapS: cap,
    policy: { iterations: q ? 20_000 : 200_000, warmup: q ? 5_000 : 20_000 },
    store: { turns: q ? 1000 : 10_000, warmup: q ? 200 : 1000 },
    inprocess: { concurrency: o.concurrency ?? 50, count: q ? 200 : 5000, warmup: q ? 50 : 300, longTurns: q ? 1 : 5 },
    ttft: {
      simTtftMs: 50,
      // One stream: the answer streams at full speed, so turns follow each other quickly.
      low: { concurrency: 1, count: q ? 30 : 400, warmup: q ? 10 : 50, tokenDelayMs: 0 },
      // Many streams held open: each answer is paced like a (slow) model, 32 tokens 100 ms apart,
      // and the streams start spread over one answer's time, so they do not fire in lock-step.
      high: { concurrency: high, count: q ? high : high * 5, warmup: q ? 20 : 100, tokenDelayMs: 100, spreadMs: 3200 },
    },
    turns: { concurrency: o.concurrency ?? 50, count: q ? 200 : 5000, warmup: q ? 50 : 300 },
    chunks: {
      message: "count to 20000",
      turns: q ? 1 : 5,
      warmup: 1,
      // Paced at 1 ms a token, so the reader keeps up and every token is its own chunk event.
      paced: { concurrency: q ? 10 : 50, turns: q ? 10 : 100, message: q ? "count to 1000" : "count to 2000", tokenDelayMs: 1 },
    },
    memory: { streams: q ? 1000 : 10_000, perChannel: 100, warmStreams: 20, settleMs: q ? 1000 : 3000 },
    health: { streams: q ? 200 : 1000, checks: q ? 100 : 1000, gapMs: 5, burst: q ? 4000 : 20_000 },
    soak: { checkpoints: o.soakTurns ?? (q ? [150, 600] : [10_000, 100_000]), concurrency: 50, capS: o.durationS ?? (q ? 60 : 1800) },
    slowReader: { durationS: q ? 4 : 15, backgroundOnlyS: q ? 2 : 10, backgroundConcurrency: 8, slowReaderTimeoutMs: q ? 2000 : 5000 },
  };
}
type Params = ReturnType<typeof paramsFor>;

// ------------------------------------------------------------------ results

interface Figure {
  name: string;
  value: number | null;
  unit: string;
  target?: string;
  met?: boolean | null;
  note?: string;
}

interface ProcInfo {
  role: string;
  pid: number;
  command: string;
  cpuS?: number;
}

interface ScenarioResult {
  name: ScenarioName;
  title: string;
  wallS: number;
  processes: ProcInfo[];
  figures: Figure[];
  notes: string[];
  machine: { loadAvgBefore: number[]; loadAvgAfter: number[]; otherProcessesCpuPct: number | null };
  raw: Record<string, unknown>;
  error?: string;
}

class Scenario {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  readonly processes: ProcInfo[] = [];
  readonly raw: Record<string, unknown> = {};
  /** CPU of our own processes in this scenario, µs (for the machine's "other processes" figure). */
  ownCpuUs = 0;

  constructor(readonly name: ScenarioName, readonly title: string) {}

  figure(f: Figure): void {
    this.figures.push(f);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  ran(child: Child, cpuUs: number | undefined): void {
    this.processes.push({ role: child.role, pid: child.pid, command: child.command, ...(cpuUs !== undefined ? { cpuS: cpuUs / 1e6 } : {}) });
    if (cpuUs !== undefined) this.ownCpuUs += cpuUs;
  }
}

const at = (v: number, max: number): boolean | null => (Number.isFinite(v) ? v <= max : null);
const atLeast = (v: number, min: number): boolean | null => (Number.isFinite(v) ? v >= min : null);
const say = (line: string): void => void process.stderr.write(`${line}\n`);

// ------------------------------------------------------------------ processes

interface Server {
  child: Child;
  address: string;
  port: number;
  dir: string;
  dbPath: string;
}

const SERVER_ENV = {
  PARLEY_HOST: "127.0.0.1",
  PARLEY_PROVIDER: "offline",
  PARLEY_OFFLINE_TOKEN_DELAY_MS: "0",
  PARLEY_LOG_LEVEL: "warn",
  // The bulkhead must not be what is measured.
  PARLEY_MODEL_CONCURRENCY: "100000",
  PARLEY_MODEL_QUEUE: "1000000",
  PARLEY_SHUTDOWN_GRACE_MS: "0",
} as const;

/** Set by --profile: Parley servers run under --cpu-prof and write here. */
let profileDir: string | undefined;

async function startParley(sc: Scenario, extraEnv: Record<string, string> = {}): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-"));
  const dbPath = join(dir, "parley.db");
  const port = await freePort();
  const env = { ...cleanEnv(), ...SERVER_ENV, PARLEY_PORT: String(port), PARLEY_DATABASE_URL: `sqlite:${dbPath}`, ...extraEnv };
  // One directory per server: every thread (the main one, tsx's loader thread) writes its own profile.
  const nodeFlags = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, `${sc.name}-${Date.now()}`)}`] : [];
  const child = spawnTs("parley server", "src/main.ts", [], { env, nodeFlags });
  const address = `127.0.0.1:${port}`;
  const hc = healthClient(address);
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (child.proc.exitCode !== null) throw new Error(`the server exited (${child.proc.exitCode}): ${child.stderr().slice(-2000)}`);
      if (await healthCheck(hc)) break;
      if (Date.now() > deadline) throw new Error(`the server did not become SERVING in 60 s: ${child.stderr().slice(-2000)}`);
      await sleep(100);
    }
  } finally {
    hc.close();
  }
  const shown = Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`);
  sc.raw["serverEnv"] = { ...SERVER_ENV, ...extraEnv };
  say(`  server pid ${child.pid} on ${address}${shown.length ? ` (${shown.join(" ")})` : ""}`);
  return { child, address, port, dir, dbPath };
}

async function stopServer(sc: Scenario, server: Server): Promise<void> {
  let cpu: number | undefined;
  try {
    cpu = cpuMicros(server.child.pid);
  } catch {
    cpu = undefined;
  }
  sc.ran(server.child, cpu);
  await server.child.stop();
  rmSync(server.dir, { recursive: true, force: true });
}

/** A baseline server that prints `ready <port>`. */
async function startBaseline(role: string, script: string, env: Record<string, string> = {}): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const child = spawnTs(role, script, [], { env: { ...cleanEnv(), ...env, BENCH_PORT: String(port) } });
  const deadline = Date.now() + 60_000;
  while (!/ready \d+/.test(child.stdout())) {
    if (child.proc.exitCode !== null) throw new Error(`${role} exited: ${child.stderr().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${role} did not start in 60 s`);
    await sleep(50);
  }
  say(`  ${role} pid ${child.pid} on 127.0.0.1:${port}`);
  return { child, port };
}

async function stopBaseline(sc: Scenario, child: Child): Promise<void> {
  let cpu: number | undefined;
  try {
    cpu = cpuMicros(child.pid);
  } catch {
    cpu = undefined;
  }
  sc.ran(child, cpu);
  await child.stop();
}

/** Runs a child that prints one JSON object as its last stdout line. */
async function runJsonChild<T>(sc: Scenario, role: string, script: string, args: unknown): Promise<T> {
  const child = spawnTs(role, script, [JSON.stringify(args)], { env: cleanEnv(), echoStderr: true });
  const code = await child.exited;
  const lines = child.stdout().trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  if (code !== 0 || !last.startsWith("{")) throw new Error(`${role} failed (exit ${code}): ${child.stderr().slice(-3000)}`);
  const result = JSON.parse(last) as T & { cpuSelfUs?: number };
  sc.ran(child, result.cpuSelfUs);
  return result;
}

const load = <T>(sc: Scenario, task: LoadTask, role = "load (grpc-js clients)"): Promise<T> => runJsonChild<T>(sc, role, "bench/load.ts", task);

// ------------------------------------------------------------------ result shapes from load.ts

interface TurnsOut {
  ok: number;
  completed: number;
  statuses: Record<string, number>;
  wallMs: number;
  turnsPerS: number;
  serverCpuUs: number;
  serverCpuPerTurnUs: number;
  serverCpuPerTokenUs: number | null;
  tokensPerTurn: number;
  ttftMs: Distribution;
  durationMs: Distribution;
  channels: number;
  sim?: { simTtftMs: Distribution; addedTtftMs: Distribution; unmatched: number; configuredTtftMs: number; tokenDelayMs: number };
  rssStartBytes: number;
  rssEndBytes: number;
  checkpoints: Array<{ turns: number; rssBytes: number; atS: number }>;
  checkpointWindowMax: Array<{ turns: number; maxRssBytes: number; samples: number }>;
}

interface InprocessOut {
  turns: { concurrency: number; completed: number; turnsPerS: number; cpuPerTurnUs: number; tokensPerTurn: number; cpuPerTokenUs: number };
  long: { tokens: number; cpuPerTokenUs: number; tokensPerS: number };
  paced?: { tokens: number; cpuPerTokenUs: number; tokensPerS: number };
}

interface ChunksOut {
  chunks: number;
  tokens: number;
  wallMs: number;
  cpuUs: number;
  chunksPerS: number;
  tokensPerS: number;
  avgChunkMessageBytes: number;
  cpuPerChunkUs: number | null;
  cpuPerTokenUs: number | null;
  turns: Array<{ ok: boolean; status: string }>;
}

interface BareOut {
  messages: number;
  messagesPerS: number;
  cpuPerMessageUs: number;
  size: number;
}

interface SseOut {
  ok: number;
  completed: number;
  statuses: Record<string, number>;
  turnsPerS: number;
  serverCpuPerTurnUs: number;
  eventsPerTurn: number;
  ttftMs: Distribution;
}

interface HoldOut {
  streams: number;
  warmStreams: number;
  channels: number;
  openedStarted: number;
  openAtReading: number;
  openAfterHealth: number;
  openSeconds: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssAfterCancelBytes: number;
  perStreamBytes: number;
  endStatuses: Record<string, number>;
  healthIdleMs?: Distribution;
  healthMs?: Distribution;
  healthFailures: number;
  unaryCpuUs?: number;
}

interface SlowOut {
  rssStartBytes: number;
  rssBackgroundOnlyMaxBytes: number;
  rssMaxWithClientsBytes: number;
  rssMaxBytes: number;
  rssEndBytes: number;
  background: { statuses: Record<string, number> };
  slowReader: {
    messagesBeforePause: number;
    messagesAfterResume: number;
    grpcStatus: string;
    lastEvent: string;
    storedWhilePaused: boolean;
    storedAfterMs: number;
    run?: { status: string; end_reason: string | null; error_code: string | null };
    messages: Array<{ role: number; contentChars: number; finishReason: number }>;
  };
  vanishing: {
    messagesBeforeDrop: number;
    stored: boolean;
    run?: { status: string; end_reason: string | null; error_code: string | null };
    messages: Array<{ role: number; contentChars: number; finishReason: number }>;
  };
}

interface PolicyOut {
  iterations: number;
  bareUs: number;
  policyUs: number;
  overheadUs: number;
  bareCpuUs: number;
  policyCpuUs: number;
  overheadCpuUs: number;
}

interface StoreOut {
  turns: number;
  cpuPerTurnUs: number;
  perTurnUs: Distribution;
}

// ------------------------------------------------------------------ baselines shared by scenarios

let inprocessCache: InprocessOut | undefined;

async function inprocessBaseline(sc: Scenario, p: Params): Promise<InprocessOut> {
  if (inprocessCache) {
    sc.note("in-process baseline: the figures measured earlier in this run");
    return inprocessCache;
  }
  say(`  in-process agent baseline (${p.inprocess.count} turns at ${p.inprocess.concurrency}; ${p.inprocess.longTurns} × "${p.chunks.message}"; ${p.chunks.paced.turns} × "${p.chunks.paced.message}" at 1 ms a token, ${p.chunks.paced.concurrency} at a time)`);
  inprocessCache = await runJsonChild<InprocessOut>(sc, "in-process agent baseline", "bench/baselines/inprocess-agent.ts", {
    concurrency: p.inprocess.concurrency,
    count: p.inprocess.count,
    durationS: p.phaseCapS,
    warmup: p.inprocess.warmup,
    message: "count to 32",
    longMessage: p.chunks.message,
    longTurns: p.inprocess.longTurns,
    paced: p.chunks.paced,
  });
  return inprocessCache;
}

const TURN_MESSAGE = "count to 32";
const REPLY_32 = Array.from({ length: 32 }, (_, i) => String(i + 1)).join(" ");

// ------------------------------------------------------------------ scenarios

async function policyScenario(sc: Scenario, p: Params): Promise<void> {
  const r = await runJsonChild<PolicyOut>(sc, "policy microbenchmark", "bench/policy.ts", p.policy);
  sc.raw["policy"] = r;
  sc.figure({ name: "ModelPolicy.execute overhead per call (wall)", value: r.overheadUs, unit: "µs", target: "≤ 20 µs", met: at(r.overheadUs, 20), note: `policy ${fmt(r.policyUs)} µs − bare ${fmt(r.bareUs)} µs` });
  sc.figure({ name: "ModelPolicy.execute overhead per call (process CPU)", value: r.overheadCpuUs, unit: "µs", note: `policy ${fmt(r.policyCpuUs)} µs − bare ${fmt(r.bareCpuUs)} µs; CPU includes GC threads` });
  sc.figure({ name: "bare call (baseline)", value: r.bareUs, unit: "µs", note: "a trivial async function plus the AbortController every call gets" });
  sc.figure({ name: "ratio policy / bare", value: ratio(r.policyUs, r.bareUs), unit: "×" });
  sc.note(`${r.iterations} sequential calls per side after warm-up, two interleaved rounds, best round kept. Wall time is the target's measure; process CPU (all threads, GC included) is shown beside it because it is less disturbed by other processes on the machine.`);
}

async function ttftScenario(sc: Scenario, p: Params): Promise<void> {
  const simPort = await freePort();
  const server = await startParley(sc, {
    PARLEY_PROVIDER: "openai",
    OPENAI_BASE_URL: `http://127.0.0.1:${simPort}/v1`,
    OPENAI_API_KEY: "bench-sim",
    PARLEY_RETRY_MAX: "0",
  });
  try {
    const points: Array<{ label: string; cfg: { concurrency: number; count: number; warmup: number; tokenDelayMs: number; spreadMs?: number } }> = [
      { label: "1 stream", cfg: p.ttft.low },
      { label: `${p.ttft.high.concurrency} streams`, cfg: p.ttft.high },
    ];
    for (const { label, cfg } of points) {
      say(`  ${label}: ${cfg.count} turns, simulator ttft ${p.ttft.simTtftMs} ms, token pace ${cfg.tokenDelayMs} ms`);
      const r = await load<TurnsOut>(
        sc,
        {
          kind: "turns",
          address: server.address,
          serverPid: server.child.pid,
          concurrency: cfg.concurrency,
          count: cfg.count,
          durationS: p.phaseCapS,
          message: "benchmark turn",
          conversations: "precreate",
          warmup: cfg.warmup,
          sim: { port: simPort, ttftMs: p.ttft.simTtftMs, tokenDelayMs: cfg.tokenDelayMs, reply: REPLY_32 },
          ...(cfg.spreadMs ? { startSpreadMs: cfg.spreadMs } : {}),
        },
        "load (grpc-js clients + OpenAI simulator)",
      );
      sc.raw[label] = r;
      const added = r.sim?.addedTtftMs;
      const simOwn = r.sim?.simTtftMs;
      const high = cfg.concurrency > 1;
      sc.figure({ name: `added TTFT p50 @ ${label}`, value: added?.p50 ?? null, unit: "ms", ...(high ? {} : { target: "≤ 1 ms", met: at(added?.p50 ?? NaN, 1) }) });
      sc.figure({ name: `added TTFT p95 @ ${label}`, value: added?.p95 ?? null, unit: "ms" });
      sc.figure({ name: `added TTFT p99 @ ${label}`, value: added?.p99 ?? null, unit: "ms", target: high ? "≤ 10 ms" : "≤ 5 ms", met: at(added?.p99 ?? NaN, high ? 10 : 5) });
      sc.figure({ name: `client TTFT p50 / p99 @ ${label}`, value: r.ttftMs.p50, unit: "ms", note: `p99 ${fmt(r.ttftMs.p99)} ms` });
      sc.figure({ name: `simulator's own TTFT p50 @ ${label} (baseline)`, value: simOwn?.p50 ?? null, unit: "ms", note: `configured ${p.ttft.simTtftMs} ms; p99 ${fmt(simOwn?.p99)} ms` });
      sc.figure({ name: `ratio client TTFT / simulator TTFT (p50) @ ${label}`, value: ratio(r.ttftMs.p50, simOwn?.p50 ?? NaN), unit: "×" });
      sc.figure({ name: `server CPU busy @ ${label}`, value: (r.serverCpuUs / (r.wallMs * 1000)) * 100, unit: "% of a core", note: `${r.ok}/${r.completed} turns OK, ${fmt(r.turnsPerS)} turns/s` });
      if (r.sim && r.sim.unmatched > 0) sc.note(`${label}: ${r.sim.unmatched} turns could not be matched to a simulator request and are left out`);
    }
    sc.note(
      "Added TTFT = (client: call → first chunk event) − (simulator: request arrived → first SSE data line written), per turn, both on the load process's clock (the simulator runs in the load process). It includes Parley's whole path: the gRPC call, validation, the store, the agent, the OpenAI SDK's HTTP request and SSE parsing, and the way back.",
    );
  } finally {
    await stopServer(sc, server);
  }
}

async function turnsScenario(sc: Scenario, p: Params): Promise<void> {
  const c = p.turns.concurrency;
  const server = await startParley(sc);
  let parley: TurnsOut;
  try {
    say(`  Parley: ${p.turns.count} turns of "${TURN_MESSAGE}" at ${c} concurrent`);
    parley = await load<TurnsOut>(sc, {
      kind: "turns",
      address: server.address,
      serverPid: server.child.pid,
      concurrency: c,
      count: p.turns.count,
      durationS: p.phaseCapS,
      message: TURN_MESSAGE,
      conversations: "precreate",
      warmup: p.turns.warmup,
    });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["parley"] = parley;

  const sse = await startBaseline("SSE agent baseline server", "bench/baselines/sse-agent.ts", { PARLEY_OFFLINE_TOKEN_DELAY_MS: "0" });
  let sseOut: SseOut;
  try {
    say(`  SSE baseline: ${p.turns.count} turns at ${c} concurrent`);
    sseOut = await load<SseOut>(sc, {
      kind: "sse",
      url: `http://127.0.0.1:${sse.port}/stream`,
      serverPid: sse.child.pid,
      concurrency: c,
      count: p.turns.count,
      durationS: p.phaseCapS,
      message: TURN_MESSAGE,
      warmup: p.turns.warmup,
    }, "load (node:http clients)");
  } finally {
    await stopBaseline(sc, sse.child);
  }
  sc.raw["sse"] = sseOut;

  const inproc = await inprocessBaseline(sc, p);
  sc.raw["inprocess"] = inproc.turns;

  const cpuDiffMs = (parley.serverCpuPerTurnUs - inproc.turns.cpuPerTurnUs) / 1000;
  sc.figure({ name: `Parley turns/s @ ${c}`, value: parley.turnsPerS, unit: "turns/s", note: `${parley.ok}/${parley.completed} OK, ${fmt(parley.tokensPerTurn)} tokens per turn` });
  sc.figure({ name: `in-process agent turns/s @ ${c} (baseline)`, value: inproc.turns.turnsPerS, unit: "turns/s" });
  sc.figure({ name: `SSE agent turns/s @ ${c} (baseline)`, value: sseOut.turnsPerS, unit: "turns/s", note: `${sseOut.ok}/${sseOut.completed} OK` });
  sc.figure({ name: "ratio Parley / in-process", value: ratio(parley.turnsPerS, inproc.turns.turnsPerS), unit: "×", target: "≥ 0.8×", met: atLeast(ratio(parley.turnsPerS, inproc.turns.turnsPerS), 0.8) });
  sc.figure({ name: "ratio Parley / SSE", value: ratio(parley.turnsPerS, sseOut.turnsPerS), unit: "×", target: "≥ 1.0×", met: atLeast(ratio(parley.turnsPerS, sseOut.turnsPerS), 1.0) });
  sc.figure({ name: "server CPU per turn: Parley", value: parley.serverCpuPerTurnUs / 1000, unit: "ms" });
  sc.figure({ name: "CPU per turn: in-process agent (baseline)", value: inproc.turns.cpuPerTurnUs / 1000, unit: "ms" });
  sc.figure({ name: "CPU per turn: SSE server (baseline)", value: sseOut.serverCpuPerTurnUs / 1000, unit: "ms" });
  sc.figure({ name: "Parley CPU per turn over in-process", value: cpuDiffMs, unit: "ms", target: "≤ 0.5 ms", met: at(cpuDiffMs, 0.5) });
  sc.figure({ name: "turn latency p50 / p99 (Parley)", value: parley.durationMs.p50, unit: "ms", note: `p99 ${fmt(parley.durationMs.p99)} ms` });
  if (Math.round(parley.tokensPerTurn) !== 32) sc.note(`tokens per turn were ${fmt(parley.tokensPerTurn)}, not 32`);
  sc.note(`"${TURN_MESSAGE}" with the offline model at zero pace: exactly 32 tokens, no tool call. Each turn uses a fresh conversation created before the measured window. Parley's CPU is the server process's utime+stime over the window (/proc, 10 ms ticks); the in-process figure is process.cpuUsage() of the baseline process.`);
}

async function bareRuns(sc: Scenario, runs: Array<{ size: number; messages: number; streams: number; concurrency: number }>): Promise<BareOut[]> {
  const bare = await startBaseline("bare grpc-js baseline server", "bench/baselines/bare-grpc.ts");
  const out: BareOut[] = [];
  try {
    for (const r of runs) {
      say(`  bare grpc-js: ${r.streams} streams of ${r.messages} messages of ${r.size} bytes, ${r.concurrency} at a time`);
      out.push(await load<BareOut>(sc, { kind: "bare", address: `127.0.0.1:${bare.port}`, serverPid: bare.child.pid, messages: r.messages, size: r.size, streams: r.streams, concurrency: r.concurrency, warmup: 1 }));
    }
  } finally {
    await stopBaseline(sc, bare.child);
  }
  return out;
}

async function chunksScenario(sc: Scenario, p: Params): Promise<void> {
  const c = p.chunks;
  // A: the long answer at full speed, one stream.
  let long: ChunksOut;
  const server = await startParley(sc);
  try {
    say(`  A. Parley: ${c.turns} × "${c.message}" one at a time, zero pace`);
    long = await load<ChunksOut>(sc, { kind: "chunks", address: server.address, serverPid: server.child.pid, message: c.message, turns: c.turns, concurrency: 1, warmup: c.warmup });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["long"] = long;
  // B: paced, so each token is one chunk event.
  let paced: ChunksOut;
  const pacedServer = await startParley(sc, { PARLEY_OFFLINE_TOKEN_DELAY_MS: String(c.paced.tokenDelayMs) });
  try {
    say(`  B. Parley: ${c.paced.turns} × "${c.paced.message}" at ${c.paced.tokenDelayMs} ms a token, ${c.paced.concurrency} at a time`);
    paced = await load<ChunksOut>(sc, { kind: "chunks", address: pacedServer.address, serverPid: pacedServer.child.pid, message: c.paced.message, turns: c.paced.turns, concurrency: c.paced.concurrency, warmup: 1 });
  } finally {
    await stopServer(sc, pacedServer);
  }
  sc.raw["paced"] = paced;

  const sizeA = Math.max(1, Math.round(long.avgChunkMessageBytes));
  const sizeB = Math.max(1, Math.round(paced.avgChunkMessageBytes));
  const tokensPerPacedTurn = Math.max(1, Math.round(paced.tokens / Math.max(1, paced.turns.length)));
  const [bareA, bareB] = (await bareRuns(sc, [
    { size: sizeA, messages: 20_000, streams: c.turns, concurrency: 1 },
    { size: sizeB, messages: tokensPerPacedTurn, streams: c.paced.turns, concurrency: c.paced.concurrency },
  ])) as [BareOut, BareOut];
  sc.raw["bareA"] = bareA;
  sc.raw["bareB"] = bareB;
  const inproc = await inprocessBaseline(sc, p);
  sc.raw["inprocess"] = { long: inproc.long, paced: inproc.paced };

  // A
  const perTokenA = long.cpuPerTokenUs ?? NaN;
  sc.figure({ name: `A. Parley tokens/s, one stream, "${c.message}"`, value: long.tokensPerS, unit: "tokens/s", note: `${long.chunks} chunk events for ${long.tokens} tokens (${fmt(long.chunksPerS)} events/s, ${fmt(long.avgChunkMessageBytes, 0)} bytes each)` });
  sc.figure({ name: "A. in-process agent tokens/s (baseline)", value: inproc.long.tokensPerS, unit: "tokens/s" });
  sc.figure({ name: "A. server CPU per token: Parley", value: perTokenA, unit: "µs" });
  sc.figure({ name: "A. CPU per token: in-process agent (baseline)", value: inproc.long.cpuPerTokenUs, unit: "µs" });
  sc.figure({ name: "A. Parley CPU per streamed token over in-process", value: perTokenA - inproc.long.cpuPerTokenUs, unit: "µs", target: "≤ 5 µs", met: at(perTokenA - inproc.long.cpuPerTokenUs, 5) });
  sc.figure({ name: `A. bare grpc-js, ${sizeA}-byte messages (baseline)`, value: bareA.cpuPerMessageUs, unit: "µs CPU/msg", note: `${fmt(bareA.messagesPerS, 0)} msgs/s; Parley: ${fmt(long.cpuPerChunkUs ?? NaN, 0)} µs per (merged) chunk event` });
  // B
  const perEventB = paced.cpuPerChunkUs ?? NaN;
  const agentPerTokenB = inproc.paced?.cpuPerTokenUs ?? NaN;
  const pathB = (paced.cpuUs - agentPerTokenB * paced.tokens) / Math.max(1, paced.chunks);
  sc.figure({ name: `B. Parley chunk events/s, ${c.paced.concurrency} paced streams`, value: paced.chunksPerS, unit: "events/s", note: `${paced.chunks} events for ${paced.tokens} tokens, ${fmt(paced.avgChunkMessageBytes, 0)} bytes each` });
  sc.figure({ name: "B. bare grpc-js messages/s, same size and streams (baseline)", value: bareB.messagesPerS, unit: "msgs/s" });
  sc.figure({ name: "B. server CPU per chunk event: Parley", value: perEventB, unit: "µs" });
  sc.figure({ name: "B. server CPU per message: bare grpc-js (baseline)", value: bareB.cpuPerMessageUs, unit: "µs" });
  sc.figure({ name: "B. ratio Parley / bare, CPU per message (whole server)", value: ratio(perEventB, bareB.cpuPerMessageUs), unit: "×" });
  sc.figure({ name: "B. CPU per token: in-process agent, same pace (baseline)", value: agentPerTokenB, unit: "µs" });
  sc.figure({
    name: "B. agent-to-socket path CPU per message / bare",
    value: ratio(pathB, bareB.cpuPerMessageUs),
    unit: "×",
    target: "≤ 2×",
    met: at(ratio(pathB, bareB.cpuPerMessageUs), 2),
    note: `path = (Parley server CPU − in-process agent CPU for the same tokens) / chunk events = ${fmt(pathB)} µs`,
  });
  sc.figure({ name: "B. Parley CPU per streamed token over in-process", value: (paced.cpuPerTokenUs ?? NaN) - agentPerTokenB, unit: "µs", target: "≤ 5 µs", met: at((paced.cpuPerTokenUs ?? NaN) - agentPerTokenB, 5) });

  if (long.chunks < long.tokens) sc.note(`A: Parley sent ${long.chunks} chunk events for ${long.tokens} tokens. At zero pace the offline model produces tokens without yielding to the event loop, the stream's writes wait for 'drain', and the text deltas queued meanwhile are merged into one event (src/runs/event-channel.ts): at full speed Parley sends few large chunks. B paces the model at ${c.paced.tokenDelayMs} ms a token so that every token is its own event, which is what the per-message figures compare.`);
  if (paced.chunks < paced.tokens * 0.95) sc.note(`B: ${paced.chunks} events for ${paced.tokens} tokens: some deltas were still merged.`);
  const bad = [...long.turns, ...paced.turns].filter((t) => !t.ok);
  if (bad.length) sc.note(`${bad.length} turns did not complete: ${bad.map((t) => t.status).join(", ")}`);
  sc.note("The bare baseline writes pre-built byte buffers (identity serializer) of the same serialized size as Parley's chunk messages: HTTP/2 and grpc-js only, no protobuf encoding. Its CPU is its process's utime+stime over the same kind of window.");
}

/** A server whose turns sit between tokens: the offline model at its slowest pace, nothing else ending a stream early. */
const HOLD_ENV = {
  PARLEY_OFFLINE_TOKEN_DELAY_MS: "10000",
  PARLEY_TURN_TIMEOUT_MS: "3600000",
  PARLEY_HEARTBEAT_MS: "600000",
  PARLEY_FIRST_TOKEN_TIMEOUT_MS: "3600000",
  PARLEY_IDLE_TIMEOUT_MS: "3600000",
  PARLEY_SLOW_READER_TIMEOUT_MS: "600000",
};

async function memoryScenario(sc: Scenario, p: Params): Promise<void> {
  const n = p.memory.streams;
  const limit = openFileLimit();
  if (limit !== undefined && limit < 2 * (n / p.memory.perChannel) + 1000) sc.note(`open-file limit ${limit} may be too low`);
  const server = await startParley(sc, HOLD_ENV);
  let r: HoldOut;
  try {
    say(`  holding ${n} streams open mid-turn over ${Math.ceil((n + p.memory.warmStreams) / p.memory.perChannel)} channels`);
    r = await load<HoldOut>(sc, {
      kind: "hold",
      address: server.address,
      serverPid: server.child.pid,
      streams: n,
      perChannel: p.memory.perChannel,
      message: TURN_MESSAGE,
      warmStreams: p.memory.warmStreams,
      settleMs: p.memory.settleMs,
      openTimeoutS: 300,
      healthChecks: 0,
      healthGapMs: 0,
    });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["hold"] = r;
  sc.figure({ name: "RSS per open stream", value: kb(r.perStreamBytes), unit: "KB", target: "≤ 50 KB", met: at(kb(r.perStreamBytes), 50), note: `${r.openAtReading - r.warmStreams} streams open at the reading` });
  sc.figure({ name: "server RSS before / with the streams open", value: mb(r.rssAfterBytes), unit: "MB", note: `before ${fmt(mb(r.rssBeforeBytes))} MB; after cancelling all ${fmt(mb(r.rssAfterCancelBytes))} MB` });
  sc.figure({ name: "time to open the streams", value: r.openSeconds, unit: "s" });
  sc.note(`Streams sit in the offline model's 10 s wait before each token (PARLEY_OFFLINE_TOKEN_DELAY_MS=10000, its maximum), after the "started" event. ${r.warmStreams} streams were opened before the "before" reading so one-time costs are not spread over the others. Open-file limit: ${limit ?? "unknown"}; ${p.memory.perChannel} streams per grpc-js channel (own subchannel pool each).`);
  sc.note(`End statuses: ${JSON.stringify(r.endStatuses)}`);
}

async function soakScenario(sc: Scenario, p: Params): Promise<void> {
  const [first, second] = p.soak.checkpoints as [number, number];
  const server = await startParley(sc);
  let r: TurnsOut;
  try {
    say(`  ${second} turns at ${p.soak.concurrency} concurrent, RSS at ${first} and ${second}`);
    r = await load<TurnsOut>(sc, {
      kind: "turns",
      address: server.address,
      serverPid: server.child.pid,
      concurrency: p.soak.concurrency,
      count: second,
      durationS: p.soak.capS,
      message: TURN_MESSAGE,
      conversations: "per-turn",
      warmup: 0,
      checkpoints: [Math.round(first / 2), first, second],
    });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["soak"] = { ...r, sample: undefined };
  const a = r.checkpoints.find((c) => c.turns === first);
  const b = r.checkpoints.find((c) => c.turns === second);
  const aw = r.checkpointWindowMax.find((c) => c.turns === first);
  const bw = r.checkpointWindowMax.find((c) => c.turns === second);
  const growth = aw && bw ? (bw.maxRssBytes / aw.maxRssBytes - 1) * 100 : NaN;
  const instant = a && b ? (b.rssBytes / a.rssBytes - 1) * 100 : NaN;
  sc.figure({ name: `RSS after ${first} turns`, value: aw ? mb(aw.maxRssBytes) : null, unit: "MB", note: a ? `highest of ${aw?.samples ?? 0} readings over the last 10% of those turns; at the checkpoint itself ${fmt(mb(a.rssBytes))} MB` : "" });
  sc.figure({ name: `RSS after ${second} turns`, value: bw ? mb(bw.maxRssBytes) : null, unit: "MB", note: b ? `highest of ${bw?.samples ?? 0} readings over the last 10% of those turns; at the checkpoint itself ${fmt(mb(b.rssBytes))} MB` : `only ${r.completed} turns within the ${p.soak.capS} s cap` });
  sc.figure({ name: `RSS growth ${first} → ${second} turns`, value: growth, unit: "%", target: "≤ 10%", met: at(growth, 10), note: `from the single readings at the checkpoints: ${fmt(instant)}%` });
  sc.figure({ name: "turns/s during the soak", value: r.turnsPerS, unit: "turns/s", note: `${r.ok}/${r.completed} OK` });
  sc.note(`Each soak turn creates its own conversation (CreateConversation + StreamMessage, "${TURN_MESSAGE}"), ${p.soak.concurrency} at a time, on one server process and one SQLite file.`);
}

async function healthScenario(sc: Scenario, p: Params): Promise<void> {
  const server = await startParley(sc, HOLD_ENV);
  let r: HoldOut;
  try {
    say(`  ${p.health.checks} health checks idle, then with ${p.health.streams} streams open`);
    r = await load<HoldOut>(sc, {
      kind: "hold",
      address: server.address,
      serverPid: server.child.pid,
      streams: p.health.streams,
      perChannel: 100,
      message: TURN_MESSAGE,
      warmStreams: 0,
      settleMs: 1000,
      openTimeoutS: 120,
      healthChecks: p.health.checks,
      healthGapMs: p.health.gapMs,
      healthBurst: p.health.burst,
    });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["hold"] = r;
  const h = r.healthMs;
  const idle = r.healthIdleMs;
  sc.figure({ name: `health Check p99 with ${r.openAfterHealth} streams open`, value: h?.p99 ?? null, unit: "ms", target: "≤ 5 ms", met: at(h?.p99 ?? NaN, 5), note: `p50 ${fmt(h?.p50)} ms, max ${fmt(h?.max)} ms, ${r.healthFailures} failed` });
  sc.figure({ name: "health Check p99 with no stream open (baseline)", value: idle?.p99 ?? null, unit: "ms", note: `p50 ${fmt(idle?.p50)} ms` });
  sc.figure({ name: "ratio p99 loaded / idle", value: ratio(h?.p99 ?? NaN, idle?.p99 ?? NaN), unit: "×" });
  sc.figure({ name: "server CPU per health Check, no stream open", value: r.unaryCpuUs ?? null, unit: "µs", note: `${p.health.burst} Checks back to back, 4 in flight: the whole unary path (HTTP/2, grpc-js, the adapter, interceptors, metrics)` });
  sc.note(`Sequential grpc.health.v1.Health/Check calls ("" service) on their own channel, ${p.health.gapMs} ms apart; the streams sit mid-turn as in "memory".`);
}

async function slowReaderScenario(sc: Scenario, p: Params): Promise<void> {
  const server = await startParley(sc, { PARLEY_SLOW_READER_TIMEOUT_MS: String(p.slowReader.slowReaderTimeoutMs) });
  let r: SlowOut;
  try {
    say(`  a slow reader and a vanishing client on "count to 100000", ${p.slowReader.backgroundConcurrency} background turns in a loop`);
    r = await load<SlowOut>(sc, {
      kind: "slow-reader",
      address: server.address,
      serverPid: server.child.pid,
      dbPath: server.dbPath,
      backgroundConcurrency: p.slowReader.backgroundConcurrency,
      durationS: p.slowReader.durationS,
      message: TURN_MESSAGE,
      longMessage: "count to 100000",
      slowReaderTimeoutMs: p.slowReader.slowReaderTimeoutMs,
      backgroundOnlyS: p.slowReader.backgroundOnlyS,
    });
  } finally {
    await stopServer(sc, server);
  }
  sc.raw["slowReader"] = r;
  const s = r.slowReader;
  const v = r.vanishing;
  sc.figure({ name: "server RSS max with the slow reader and vanishing client", value: mb(r.rssMaxWithClientsBytes), unit: "MB", note: `start ${fmt(mb(r.rssStartBytes))} MB, end ${fmt(mb(r.rssEndBytes))} MB` });
  sc.figure({ name: "server RSS max, background load alone (baseline)", value: mb(r.rssBackgroundOnlyMaxBytes), unit: "MB", note: `first ${p.slowReader.backgroundOnlyS} s` });
  sc.figure({ name: "ratio RSS max with / without the two clients", value: ratio(r.rssMaxWithClientsBytes, r.rssBackgroundOnlyMaxBytes), unit: "×" });
  sc.figure({
    name: "slow reader: run stored while the reader was paused",
    value: s.storedWhilePaused ? s.storedAfterMs : null,
    unit: "ms after pause",
    met: s.storedWhilePaused && s.run?.status !== "running",
    target: "stored, not running",
    note: `run ${s.run ? `${s.run.status}/${s.run.end_reason ?? "-"}/${s.run.error_code ?? "-"}` : "missing"}; after resume: grpc-status ${s.grpcStatus || "none"}, last event ${s.lastEvent}`,
  });
  sc.figure({
    name: "vanishing client: run stored",
    value: v.stored ? 1 : 0,
    unit: "yes=1",
    met: v.stored && v.run?.status !== "running",
    target: "stored, not running",
    note: `run ${v.run ? `${v.run.status}/${v.run.end_reason ?? "-"}/${v.run.error_code ?? "-"}` : "missing"}; ${v.messages.length} messages stored`,
  });
  sc.figure({ name: "background turns during the scenario", value: r.background.statuses["OK"] ?? 0, unit: "OK turns", note: JSON.stringify(r.background.statuses) });
  sc.note(`The slow reader and the vanishing client are raw node:http2 clients in the load process: after the background load ran alone for a while, the reader stops reading (HTTP/2 flow control, 64 KB window) after its first messages; the other destroys its TCP socket after its first messages (no RST_STREAM, no GOAWAY). The reader resumes a few seconds later and reads what was buffered and the final status. PARLEY_SLOW_READER_TIMEOUT_MS=${p.slowReader.slowReaderTimeoutMs}. Stored state read from the SQLite file (runs table) and ListMessages.`);
}

async function storeScenario(sc: Scenario, p: Params): Promise<void> {
  const r = await runJsonChild<StoreOut>(sc, "store microbenchmark", "bench/store.ts", p.store);
  sc.raw["store"] = r;
  sc.figure({ name: "store CPU per turn (getConversation, startRun, history, finishRun)", value: r.cpuPerTurnUs, unit: "µs", note: `p50 ${fmt(r.perTurnUs.p50)} µs, p99 ${fmt(r.perTurnUs.p99)} µs over ${r.turns} turns` });
  sc.note("The calls a first turn makes, on the SQLite store the server opens (src/store/sqlite.ts: WAL, statement cache), on a fresh file in one process, sequentially after a warm-up; process.cpuUsage() around each turn's calls. Part of the `turns` figure's server CPU, measured alone.");
}

const RUNNERS: Record<ScenarioName, { title: string; run: (sc: Scenario, p: Params) => Promise<void> }> = {
  policy: { title: "resilience policy overhead per model call", run: policyScenario },
  store: { title: "store CPU per turn", run: storeScenario },
  ttft: { title: "added time to first token", run: ttftScenario },
  turns: { title: "full turns per second", run: turnsScenario },
  chunks: { title: "chunk events per second, long answer", run: chunksScenario },
  memory: { title: "RSS per open stream", run: memoryScenario },
  soak: { title: "RSS growth over many turns", run: soakScenario },
  health: { title: "health Check latency with streams open", run: healthScenario },
  "slow-reader": { title: "slow reader and vanishing client under load", run: slowReaderScenario },
};

// ------------------------------------------------------------------ report

function statusOf(f: Figure): string {
  if (f.met === undefined || f.met === null) return f.target ? "n/a" : "";
  return f.met ? "met" : "**missed**";
}

function markdown(
  run: { startedAt: string; command: string; mode: string; runner: string; machine: ReturnType<typeof machine>; wallS: number; source: { commit: string; modified: string[] } },
  results: ScenarioResult[],
): string {
  const out: string[] = [];
  out.push(`# Parley benchmark, ${run.startedAt}`);
  out.push("");
  out.push(`\`${run.command}\` — ${run.mode} mode, ${fmt(run.wallS, 0)} s, ${run.runner}; ${run.machine.cores} cores (${run.machine.cpu}), Node ${run.machine.node}, ${run.machine.platform}`);
  out.push("");
  out.push(`Source: commit ${run.source.commit}${run.source.modified.length ? ` plus uncommitted changes in ${run.source.modified.join(", ")}` : ", no uncommitted changes in src/ or gen/"}.`);
  out.push("");
  out.push("| scenario | figure | value | target | status | note |");
  out.push("|---|---|---|---|---|---|");
  for (const r of results) {
    if (r.error) {
      out.push(`| ${r.name} | failed | | | | ${r.error.replace(/\|/g, "/").replace(/\n/g, " ").slice(0, 300)} |`);
      continue;
    }
    for (const f of r.figures) {
      out.push(`| ${r.name} | ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.target ?? ""} | ${statusOf(f)} | ${(f.note ?? "").replace(/\|/g, "/")} |`);
    }
  }
  out.push("");
  out.push("## Processes and machine load per scenario");
  out.push("");
  for (const r of results) {
    const other = r.machine.otherProcessesCpuPct;
    out.push(`- **${r.name}** (${fmt(r.wallS, 1)} s; load average ${r.machine.loadAvgBefore.join(" ")} → ${r.machine.loadAvgAfter.join(" ")}; other processes used ${other === null ? "n/a" : `${fmt(other, 0)}%`} of the machine)`);
    for (const p of r.processes) out.push(`  - ${p.role}: pid ${p.pid}${p.cpuS !== undefined ? `, ${fmt(p.cpuS)} s CPU` : ""} — \`${p.command}\``);
  }
  out.push("");
  out.push("## Notes");
  out.push("");
  for (const r of results) for (const n of r.notes) out.push(`- ${r.name}: ${n}`);
  out.push("");
  return out.join("\n");
}

/** Which code was measured: the commit, and the files under src/ and gen/ that differ from it. */
function sourceState(): { commit: string; modified: string[] } {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const status = execFileSync("git", ["status", "--porcelain", "--", "src", "gen"], { cwd: REPO_ROOT, encoding: "utf8" });
    return { commit, modified: status.split("\n").filter((l) => l.trim() !== "").map((l) => l.slice(3)) };
  } catch {
    return { commit: "unknown", modified: [] };
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  let opts: Options | "help";
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const p = paramsFor(opts);
  const startedAt = new Date();
  if (opts.profile) {
    profileDir = join(REPO_ROOT, "bench", "results", "profiles");
    mkdirSync(profileDir, { recursive: true });
  }
  const command = `npm run bench --${process.argv.length > 2 ? " " + process.argv.slice(2).join(" ") : ""}`;
  const mach = machine();
  const source = sourceState();
  say(`Parley benchmark (${opts.quick ? "quick" : "full"}): ${opts.scenarios.join(", ")}; ${mach.cores} cores, Node ${mach.node}; harness pid ${process.pid}`);
  let built: BuildOutput | undefined;
  const interrupted = (signal: string) => {
    say(`\n${signal}: stopping the benchmark's child processes`);
    killChildren();
    built?.remove();
    process.exit(130);
  };
  process.on("SIGINT", () => interrupted("SIGINT"));
  process.on("SIGTERM", () => interrupted("SIGTERM"));
  if (!opts.tsx) {
    built = await buildForBench();
    useBuild(built.dir);
    say(`transpiled ${built.files} files with esbuild into ${built.dir} in ${fmt(built.ms, 0)} ms; children run as \`node <that dir>/…\``);
  } else {
    say("children run from source: node --import tsx …");
  }

  const results: ScenarioResult[] = [];
  for (const name of opts.scenarios) {
    const def = RUNNERS[name];
    const sc = new Scenario(name, def.title);
    say(`\n▶ ${name}: ${def.title}`);
    const loadBefore = loadAverage();
    const busy0 = machineBusyMicros();
    const t0 = performance.now();
    let error: string | undefined;
    try {
      await def.run(sc, p);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      say(`  ✗ ${name} failed: ${error}`);
    }
    const wallS = (performance.now() - t0) / 1000;
    const busy = machineBusyMicros() - busy0;
    const other = wallS > 0 ? Math.max(0, ((busy - sc.ownCpuUs) / (wallS * 1e6 * mach.cores)) * 100) : null;
    const result: ScenarioResult = {
      name,
      title: def.title,
      wallS,
      processes: sc.processes,
      figures: sc.figures,
      notes: sc.notes,
      machine: { loadAvgBefore: loadBefore, loadAvgAfter: loadAverage(), otherProcessesCpuPct: other },
      raw: sc.raw,
      ...(error ? { error } : {}),
    };
    results.push(result);
    for (const f of sc.figures) say(`  ${f.name}: ${fmt(f.value)} ${f.unit}${f.target ? `  (target ${f.target}: ${statusOf(f).replace(/\*/g, "")})` : ""}${f.note ? `  — ${f.note}` : ""}`);
    say(`  processes: ${sc.processes.map((x) => `${x.role} (pid ${x.pid})`).join(", ")}; other processes on the machine: ${other === null ? "n/a" : `${fmt(other, 0)}%`}`);
  }

  const wallS = (Date.now() - startedAt.getTime()) / 1000;
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const md = markdown({ startedAt: startedAt.toISOString(), command, mode: opts.quick ? "quick" : "full", runner: opts.tsx ? "children from source via tsx" : "children transpiled once with esbuild", machine: mach, wallS, source }, results);
  process.stdout.write(`\n${md}\n`);
  if (opts.save) {
    const dir = join(REPO_ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const json = { startedAt: startedAt.toISOString(), command, mode: opts.quick ? "quick" : "full", runner: opts.tsx ? "tsx" : "esbuild build", wallS, machine: mach, source, params: p, results };
    writeFileSync(join(dir, `${stamp}.json`), JSON.stringify(json, null, 2) + "\n");
    writeFileSync(join(dir, `${stamp}.md`), md + "\n");
    say(`results: bench/results/${stamp}.json, bench/results/${stamp}.md`);
  }
  built?.remove();
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
