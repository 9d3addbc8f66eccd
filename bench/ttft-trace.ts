/**
 * Where Parley's added time to first token goes, phase by phase: one
 * process runs the app (openai provider), the simulator and a grpc-js
 * client, so every timestamp is on one clock. Turns run one at a time.
 *
 *   node --import tsx bench/ttft-trace.ts [turns] [warmup] [out.cpuprofile]
 *
 * Timestamps come from wrappers installed here (prototype methods, the
 * global fetch, diagnostics channels), not from the source; each phase also
 * gets the process's CPU time. With a profile path, the measured turns run
 * under the V8 profiler and the marks are written beside it, for
 * `bench/profile-phase.ts`. The simulator answers as in the `ttft`
 * scenario's 1-stream point: 32 tokens at full speed after 50 ms.
 */
import { subscribe } from "node:diagnostics_channel";
import { ServerResponse } from "node:http";
import { Duplex } from "node:stream";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { TurnRunner } from "../src/runs/turn-runner.js";
import { AgentRunner } from "../src/agent/agent.js";
import { ModelPolicy } from "../src/resilience/model-policy.js";
import { ChatOpenAICompletions } from "@langchain/openai";
import { EventChannel } from "../src/runs/event-channel.js";
import { startSimulator } from "../test/sim/server.js";
import { ChannelPool, createConversation, streamTurn } from "./lib/client.js";

const REPLY_32 = Array.from({ length: 32 }, (_, i) => String(i + 1)).join(" ");

const turns = Number(process.argv[2] ?? 60);
const warmup = Number(process.argv[3] ?? 10);
/** Optional: a .cpuprofile of the measured turns only (warm-up and start-up left out). */
const profileOut = process.argv[4];
const session = new Session();
session.connect();
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));

type Mark = "send" | "handler" | "startRun" | "history" | "agentRun" | "fetch" | "undiciCreate" | "simArrive" | "simFirstWrite" | "headers" | "firstText" | "clientChunk" | "stepEnd" | "finishRun" | "policy" | "lcStream" | "stepStart" | "chunkWrite" | "chunkWritten";
let cur: Partial<Record<Mark, number>> = {};
let cpuAt: Partial<Record<Mark, number>> = {};
/** Monotonic µs at each mark (the clock V8's profiler stamps samples with), for cutting a profile into phases. */
let hrAt: Partial<Record<Mark, number>> = {};
const mark = (m: Mark): void => {
  if (cur[m] !== undefined) return;
  cur[m] = performance.now();
  const u = process.cpuUsage();
  cpuAt[m] = (u.user + u.system) / 1000;
  hrAt[m] = Number(process.hrtime.bigint() / 1000n);
};

subscribe("undici:request:create", () => mark("undiciCreate"));
subscribe("undici:request:headers", () => mark("headers"));
const simSockets = new WeakSet<object>();
let simConnections = 0;
subscribe("http.server.request.start", (message) => {
  mark("simArrive");
  const socket = (message as { request: { socket: object } }).request.socket;
  if (!simSockets.has(socket)) {
    simSockets.add(socket);
    simConnections++;
  }
});
const originalWrite = ServerResponse.prototype.write;
ServerResponse.prototype.write = function (this: ServerResponse, ...args: unknown[]): boolean {
  mark("simFirstWrite");
  return (originalWrite as (...a: unknown[]) => boolean).apply(this, args);
} as typeof ServerResponse.prototype.write;

// The server's write of the first chunk (the first HTTP/2 stream write after the first text) and its
// completion (nghttp2 handed the frame to the socket): with the client in this process, its receive
// time also waits for this process's event loop, so these say when the chunk really left.
const originalStreamWrite = Duplex.prototype.write;
Duplex.prototype.write = function (this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (this.constructor.name === "ServerHttp2Stream" && cur.firstText !== undefined && cur.chunkWrite === undefined) {
    mark("chunkWrite");
    const done = typeof encoding === "function" ? encoding : cb;
    const wrapped = (err?: Error | null) => {
      mark("chunkWritten");
      if (typeof done === "function") (done as (e?: Error | null) => void)(err);
    };
    return typeof encoding === "function"
      ? (originalStreamWrite as (c: unknown, cb: unknown) => boolean).call(this, chunk, wrapped)
      : (originalStreamWrite as (c: unknown, e: unknown, cb: unknown) => boolean).call(this, chunk, encoding, wrapped);
  }
  return (originalStreamWrite as (c: unknown, e: unknown, cb: unknown) => boolean).call(this, chunk, encoding, cb);
} as typeof Duplex.prototype.write;

const originalFetch = globalThis.fetch;
globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
  mark("fetch");
  return originalFetch(input, init);
}) as typeof fetch;

const origStream = TurnRunner.prototype.stream;
TurnRunner.prototype.stream = function (this: TurnRunner, ...args: Parameters<TurnRunner["stream"]>) {
  mark("handler");
  return origStream.apply(this, args);
};
const origRun = AgentRunner.prototype.run;
AgentRunner.prototype.run = function (this: AgentRunner, ...args: Parameters<AgentRunner["run"]>) {
  mark("agentRun");
  return origRun.apply(this, args);
};
const origExecute = ModelPolicy.prototype.execute;
ModelPolicy.prototype.execute = function (this: ModelPolicy, ...args: Parameters<ModelPolicy["execute"]>) {
  mark("policy");
  return origExecute.apply(this, args) as ReturnType<ModelPolicy["execute"]>;
} as ModelPolicy["execute"];
const origLcStream = ChatOpenAICompletions.prototype._streamResponseChunks;
ChatOpenAICompletions.prototype._streamResponseChunks = function (this: ChatOpenAICompletions, ...args: Parameters<ChatOpenAICompletions["_streamResponseChunks"]>) {
  mark("lcStream");
  return origLcStream.apply(this, args);
};
const origPush = EventChannel.prototype.push;
EventChannel.prototype.push = function (this: EventChannel<unknown>, value: unknown) {
  const type = (value as { type?: string }).type;
  if (type === "text") mark("firstText");
  if (type === "step_end") mark("stepEnd");
  if (type === "step_start") mark("stepStart");
  return origPush.call(this, value);
};

const sim = await startSimulator({ host: "127.0.0.1", port: 0, defaults: { pacing: { ttftMs: 50, tokenDelayMs: 0 }, reply: { text: REPLY_32 } }, strict: true });
const dir = mkdtempSync(join(tmpdir(), "ttft-trace-"));
const config = loadConfig(
  {
    PARLEY_HOST: "127.0.0.1",
    PARLEY_PORT: "0",
    PARLEY_DATABASE_URL: `sqlite:${join(dir, "p.db")}`,
    PARLEY_PROVIDER: "openai",
    OPENAI_BASE_URL: sim.url,
    OPENAI_API_KEY: "trace",
    PARLEY_RETRY_MAX: "0",
    PARLEY_LOG_LEVEL: "warn",
    PARLEY_MODEL_CONCURRENCY: "100000",
    PARLEY_MODEL_QUEUE: "1000000",
  },
  "0.0.0",
);
const app = await startApp(config, pino({ level: "warn" }));
const origStart = app.store.startRun.bind(app.store);
app.store.startRun = async (...a: Parameters<typeof origStart>) => {
  const r = await origStart(...a);
  mark("startRun");
  return r;
};
const origHistory = app.store.history.bind(app.store);
app.store.history = async (...a: Parameters<typeof origHistory>) => {
  const r = await origHistory(...a);
  mark("history");
  return r;
};

const origFinish = app.store.finishRun.bind(app.store);
app.store.finishRun = (...a: Parameters<typeof origFinish>) => {
  mark("finishRun");
  return origFinish(...a);
};

const pool = new ChannelPool(`${app.address.host}:${app.address.port}`, 1);
await pool.ready();
const client = pool.at(0);
const rows: Array<Partial<Record<Mark, number>>> = [];
const cpuRows: Array<Partial<Record<Mark, number>>> = [];
const hrRows: Array<Partial<Record<Mark, number>>> = [];
const cpuStart = process.cpuUsage();
let simFrom = 0;
for (let i = 0; i < warmup + turns; i++) {
  if (i === warmup) {
    simFrom = simConnections;
    if (profileOut) {
      await post("Profiler.enable");
      await post("Profiler.setSamplingInterval", { interval: 200 });
      await post("Profiler.start");
    }
  }
  const conv = await createConversation(client);
  cur = {};
  cpuAt = {};
  hrAt = {};
  mark("send");
  const r = await streamTurn(client, conv, `trace turn ${i}`);
  if (r.firstChunkAt !== null) cur.clientChunk = r.firstChunkAt;
  if (i >= warmup) {
    rows.push(cur);
    cpuRows.push(cpuAt);
    hrRows.push(hrAt);
  }
}
const cpu = process.cpuUsage(cpuStart);
if (profileOut) {
  const { profile } = (await post("Profiler.stop")) as { profile: unknown };
  writeFileSync(profileOut, JSON.stringify(profile));
  writeFileSync(`${profileOut}.marks.json`, JSON.stringify(hrRows));
}

// The chain the first token takes. The client runs in this process, so its receive time also waits
// for this event loop (which goes on parsing the rest of the answer): the chunk's HTTP/2 write and
// its completion say when it left the server.
const chain: Mark[] = ["send", "handler", "startRun", "history", "agentRun", "stepStart", "policy", "lcStream", "fetch", "undiciCreate", "simArrive", "headers", "simFirstWrite", "firstText", "chunkWrite", "chunkWritten"];
const besides: Array<[Mark, Mark]> = [["firstText", "clientChunk"], ["firstText", "stepEnd"], ["firstText", "finishRun"]];
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? NaN;
const spans = (from: Mark, to: Mark, of: Array<Partial<Record<Mark, number>>>): number[] =>
  of.filter((r) => r[from] !== undefined && r[to] !== undefined).map((r) => (r[to] as number) - (r[from] as number));
const fmt = (x: number): string => (Number.isNaN(x) ? "-" : x.toFixed(2)).padStart(7);

console.log(`${rows.length} turns after ${warmup} warm-up; new simulator connections during them: ${simConnections - simFrom}; process CPU ${((cpu.user + cpu.system) / 1000 / (warmup + turns)).toFixed(1)} ms a turn (app, simulator and client together)`);
console.log(`${"phase".padEnd(30)}  wall p50  wall p90  CPU p50 (ms; CPU is the whole process's)`);
for (let i = 1; i < chain.length; i++) {
  const [from, to] = [chain[i - 1] as Mark, chain[i] as Mark];
  const wall = spans(from, to, rows);
  const busy = spans(from, to, cpuRows);
  console.log(`${`${from} → ${to}`.padEnd(30)}  ${fmt(quantile(wall, 0.5))}   ${fmt(quantile(wall, 0.9))}   ${fmt(quantile(busy, 0.5))}`);
}
for (const [from, to] of besides) {
  const wall = spans(from, to, rows);
  console.log(`${`(${from} → ${to})`.padEnd(30)}  ${fmt(quantile(wall, 0.5))}   ${fmt(quantile(wall, 0.9))}`);
}
const added = rows.map((r) => (r.chunkWritten ?? NaN) - (r.send ?? NaN) - ((r.simFirstWrite ?? NaN) - (r.simArrive ?? NaN)));
console.log(`added TTFT to the chunk's write: p50 ${fmt(quantile(added, 0.5)).trim()} ms, p90 ${fmt(quantile(added, 0.9)).trim()} ms`);

pool.close();
await app.close();
await sim.close();
rmSync(dir, { recursive: true, force: true });
