/**
 * The load generator: one process of @grpc/grpc-js clients (and, for the
 * SSE baseline, node:http clients) that runs one task against a server on
 * loopback and prints one JSON result on stdout. Progress goes to stderr.
 *
 *   node --import tsx bench/load.ts '{"kind":"turns","address":"127.0.0.1:50051",...}'
 *
 * The server's pid comes with the task, so CPU (utime+stime) and RSS are read
 * from /proc at exactly the moments the task defines. Every task is bounded
 * in count and in time.
 */
import { Agent, request as httpRequest } from "node:http";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { ChannelPool, createConversation, createConversations, healthCheck, healthClient, streamTurn, type TurnResult } from "./lib/client.js";
import { bareDefinition, type BareRequest } from "./lib/bare-def.js";
import { cpuMicros, rssBytes, sleep } from "./lib/proc.js";
import { rawStreamMessage } from "./lib/raw-grpc.js";
import { benchTag, startProbedSimulator, type ProbedSimulator } from "./lib/sim-probe.js";
import { distribution, type Distribution } from "./lib/stats.js";
import type { StreamMessageResponse } from "../gen/parley/v1/conversation_service_pb.js";

// ---------------------------------------------------------------- tasks

export interface TurnsTask {
  kind: "turns";
  address: string;
  serverPid: number;
  concurrency: number;
  count: number;
  durationS: number;
  message: string;
  /** precreate: one fresh conversation per turn, created before the measured window; per-turn: created inside it. */
  conversations: "precreate" | "per-turn";
  warmup: number;
  channels?: number;
  /** Run the simulator in this process (the server's OPENAI_BASE_URL points at it). */
  sim?: { port: number; ttftMs: number; tokenDelayMs: number; reply: string };
  /** Workers start spread evenly over this many ms, so a closed loop does not fire in lock-step. */
  startSpreadMs?: number;
  /** Read the server's RSS when this many turns have completed. */
  checkpoints?: number[];
}

export interface SseTask {
  kind: "sse";
  url: string;
  serverPid: number;
  concurrency: number;
  count: number;
  durationS: number;
  message: string;
  warmup: number;
}

export interface ChunksTask {
  kind: "chunks";
  address: string;
  serverPid: number;
  message: string;
  /** Turns in all, `concurrency` at a time, each on a fresh conversation. */
  turns: number;
  concurrency: number;
  warmup: number;
}

export interface BareTask {
  kind: "bare";
  address: string;
  serverPid: number;
  /** Messages per stream. */
  messages: number;
  size: number;
  /** Streams in all, `concurrency` at a time. */
  streams: number;
  concurrency: number;
  warmup: number;
}

export interface HoldTask {
  kind: "hold";
  address: string;
  serverPid: number;
  streams: number;
  perChannel: number;
  message: string;
  /** Streams opened (and kept) before the "before" reading, so one-time costs are not counted per stream. */
  warmStreams: number;
  settleMs: number;
  openTimeoutS: number;
  /** Health checks to time while the streams are open (0: none). */
  healthChecks: number;
  healthGapMs: number;
  /** Back-to-back Checks before the streams open, for the server's CPU per unary call (0: none). */
  healthBurst?: number;
}

export interface SlowReaderTask {
  kind: "slow-reader";
  address: string;
  serverPid: number;
  dbPath: string;
  backgroundConcurrency: number;
  durationS: number;
  message: string;
  longMessage: string;
  /** The server's PARLEY_SLOW_READER_TIMEOUT_MS. */
  slowReaderTimeoutMs: number;
  /** Seconds of background load alone before the slow reader and the vanishing client join. */
  backgroundOnlyS: number;
}

export type LoadTask = TurnsTask | SseTask | ChunksTask | BareTask | HoldTask | SlowReaderTask;

const log = (line: string): void => void process.stderr.write(`  [load] ${line}\n`);

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

// ---------------------------------------------------------------- turns

async function runTurns(task: TurnsTask) {
  const channels = task.channels ?? Math.max(1, Math.ceil(task.concurrency / 100));
  const pool = new ChannelPool(task.address, channels);
  await pool.ready();
  let probe: ProbedSimulator | undefined;
  if (task.sim) probe = await startProbedSimulator(task.sim.port, { pacing: { ttftMs: task.sim.ttftMs, tokenDelayMs: task.sim.tokenDelayMs }, reply: { text: task.sim.reply } });

  let tagCounter = 0;
  const content = (): string => (task.sim ? `${task.message} ${benchTag(++tagCounter)}` : task.message);

  // Warm-up: JIT, the agent cache, SQLite statements; not measured.
  let w = 0;
  await Promise.all(
    Array.from({ length: Math.min(task.warmup, task.concurrency) }, async (_v, k) => {
      while (w < task.warmup) {
        w++;
        const id = await createConversation(pool.at(k));
        await streamTurn(pool.at(k), id, content());
      }
    }),
  );

  const pre = task.conversations === "precreate" ? await createConversations(pool, task.count) : [];
  const checkpoints = [...(task.checkpoints ?? [])].sort((a, b) => a - b);
  const rssAt: Array<{ turns: number; rssBytes: number; atS: number }> = [];
  const results: TurnResult[] = [];
  const statuses: string[] = [];
  const ttft: number[] = [];
  const simTtft: number[] = [];
  const added: number[] = [];
  const durations: number[] = [];
  let unmatched = 0;
  let chunks = 0;
  let tokens = 0;
  let next = 0;
  let completed = 0;

  const rssStart = rssBytes(task.serverPid);
  // With checkpoints, RSS is also sampled twice a second: one reading can land before or after a GC.
  const samples: Array<{ turns: number; rssBytes: number }> = [];
  const sampler = checkpoints.length > 0 ? setInterval(() => samples.push({ turns: completed, rssBytes: rssBytes(task.serverPid) }), 500) : undefined;
  const cpu0 = cpuMicros(task.serverPid);
  const t0 = performance.now();
  const deadline = t0 + task.durationS * 1000;
  let lastLog = t0;
  await Promise.all(
    Array.from({ length: task.concurrency }, async (_v, worker) => {
      const client = pool.at(worker);
      if (task.startSpreadMs) await sleep((task.startSpreadMs * worker) / task.concurrency);
      while (next < task.count && performance.now() < deadline) {
        const i = next++;
        const id = task.conversations === "precreate" ? (pre[i] as string) : await createConversation(client);
        const text = content();
        const r = await streamTurn(client, id, text);
        completed++;
        statuses.push(r.ok ? "OK" : `${r.status}/${r.lastKind}`);
        if (r.ok) {
          durations.push(r.durationMs);
          chunks += r.chunks;
          tokens += r.outputTokens;
          if (r.ttftMs !== null) ttft.push(r.ttftMs);
          if (probe) {
            const tag = /#bench-\d+/.exec(text)?.[0] ?? "";
            const s = probe.timing(tag);
            if (s && r.ttftMs !== null) {
              const own = s.firstWriteAt - s.arrivedAt;
              simTtft.push(own);
              added.push(r.ttftMs - own);
            } else unmatched++;
          }
        }
        if (results.length < 3) results.push(r);
        while (checkpoints.length > 0 && completed >= (checkpoints[0] as number)) {
          rssAt.push({ turns: checkpoints.shift() as number, rssBytes: rssBytes(task.serverPid), atS: (performance.now() - t0) / 1000 });
        }
        const now = performance.now();
        if (now - lastLog > 5000) {
          lastLog = now;
          log(`${completed} turns, ${((completed / (now - t0)) * 1000).toFixed(0)}/s`);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuUs = cpuMicros(task.serverPid) - cpu0;
  const rssEnd = rssBytes(task.serverPid);
  if (sampler) clearInterval(sampler);
  pool.close();
  await probe?.close();
  // The highest RSS over the last 10% of the turns before each checkpoint: the working set's high-water mark there.
  const windowMax = rssAt.map((c) => {
    const inWindow = samples.filter((x) => x.turns >= c.turns * 0.9 && x.turns <= c.turns).map((x) => x.rssBytes);
    return { turns: c.turns, maxRssBytes: Math.max(c.rssBytes, ...inWindow), samples: inWindow.length };
  });
  const ok = statuses.filter((s) => s === "OK").length;
  return {
    kind: task.kind,
    concurrency: task.concurrency,
    channels,
    completed,
    ok,
    statuses: countBy(statuses),
    wallMs,
    turnsPerS: (ok / wallMs) * 1000,
    serverCpuUs: cpuUs,
    serverCpuPerTurnUs: cpuUs / Math.max(1, ok),
    serverCpuPerTokenUs: tokens > 0 ? cpuUs / tokens : null,
    chunks,
    tokens,
    tokensPerTurn: ok ? tokens / ok : 0,
    ttftMs: distribution(ttft),
    durationMs: distribution(durations),
    sim: probe ? { simTtftMs: distribution(simTtft), addedTtftMs: distribution(added), unmatched, configuredTtftMs: task.sim?.ttftMs, tokenDelayMs: task.sim?.tokenDelayMs } : undefined,
    rssStartBytes: rssStart,
    rssEndBytes: rssEnd,
    checkpoints: rssAt,
    checkpointWindowMax: windowMax,
    rssSamples: samples.length,
    sample: results,
  };
}

// ---------------------------------------------------------------- SSE baseline

interface SseTurn {
  ok: boolean;
  status: number;
  ttftMs: number | null;
  durationMs: number;
  events: number;
}

function sseTurn(url: string, agent: Agent, message: string): Promise<SseTurn> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    let first: number | null = null;
    let events = 0;
    let done = false;
    let tail = "";
    const body = JSON.stringify({ message });
    const req = httpRequest(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        const text = tail + d;
        const lines = text.split("\n");
        tail = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.startsWith("data: ")) continue;
          if (line === "data: [DONE]") {
            done = true;
            continue;
          }
          if (first === null) first = performance.now();
          events++;
        }
      });
      res.on("end", () => resolve({ ok: done && res.statusCode === 200, status: res.statusCode ?? 0, ttftMs: first === null ? null : first - sentAt, durationMs: performance.now() - sentAt, events }));
      res.on("error", () => resolve({ ok: false, status: -1, ttftMs: null, durationMs: performance.now() - sentAt, events }));
    });
    req.on("error", () => resolve({ ok: false, status: -1, ttftMs: null, durationMs: performance.now() - sentAt, events }));
    req.end(body);
  });
}

async function runSse(task: SseTask) {
  const agent = new Agent({ keepAlive: true, maxSockets: task.concurrency });
  let w = 0;
  await Promise.all(
    Array.from({ length: Math.min(task.concurrency, Math.max(1, task.warmup)) }, async () => {
      while (w++ < task.warmup) await sseTurn(task.url, agent, task.message);
    }),
  );
  const statuses: string[] = [];
  const ttft: number[] = [];
  let events = 0;
  let next = 0;
  const cpu0 = cpuMicros(task.serverPid);
  const t0 = performance.now();
  const deadline = t0 + task.durationS * 1000;
  await Promise.all(
    Array.from({ length: task.concurrency }, async () => {
      while (next < task.count && performance.now() < deadline) {
        next++;
        const r = await sseTurn(task.url, agent, task.message);
        statuses.push(r.ok ? "OK" : `HTTP ${r.status}`);
        if (r.ok) {
          events += r.events;
          if (r.ttftMs !== null) ttft.push(r.ttftMs);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuUs = cpuMicros(task.serverPid) - cpu0;
  agent.destroy();
  const ok = statuses.filter((s) => s === "OK").length;
  return {
    kind: task.kind,
    concurrency: task.concurrency,
    completed: statuses.length,
    ok,
    statuses: countBy(statuses),
    wallMs,
    turnsPerS: (ok / wallMs) * 1000,
    serverCpuUs: cpuUs,
    serverCpuPerTurnUs: cpuUs / Math.max(1, ok),
    events,
    eventsPerTurn: ok ? events / ok : 0,
    ttftMs: distribution(ttft),
  };
}

// ---------------------------------------------------------------- chunks (long answer)

async function runChunks(task: ChunksTask) {
  const pool = new ChannelPool(task.address, 1);
  await pool.ready();
  const client = pool.at(0);
  for (let i = 0; i < task.warmup; i++) await streamTurn(client, await createConversation(client), task.message);
  const ids = await createConversations(pool, task.turns);
  const turns: Array<{ ok: boolean; status: string; chunks: number; tokens: number; chunkBytes: number; wallMs: number }> = [];
  let next = 0;
  const cpu0 = cpuMicros(task.serverPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(task.concurrency, task.turns) }, async () => {
      while (next < task.turns) {
        const id = ids[next++] as string;
        const r = await streamTurn(client, id, task.message, { measureBytes: true });
        turns.push({ ok: r.ok, status: r.status, chunks: r.chunks, tokens: r.outputTokens, chunkBytes: r.chunkBytes, wallMs: r.durationMs });
        if (task.concurrency === 1) log(`long turn ${turns.length}/${task.turns}: ${r.chunks} chunk events, ${r.outputTokens} tokens, ${r.durationMs.toFixed(0)} ms`);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuUs = cpuMicros(task.serverPid) - cpu0;
  pool.close();
  const sum = (f: (t: (typeof turns)[number]) => number) => turns.reduce((s, t) => s + f(t), 0);
  const chunks = sum((t) => t.chunks);
  const tokens = sum((t) => t.tokens);
  return {
    kind: task.kind,
    concurrency: task.concurrency,
    turns,
    chunks,
    tokens,
    wallMs,
    cpuUs,
    chunksPerS: (chunks / wallMs) * 1000,
    tokensPerS: (tokens / wallMs) * 1000,
    avgChunkMessageBytes: chunks ? sum((t) => t.chunkBytes) / chunks : 0,
    cpuPerChunkUs: chunks ? cpuUs / chunks : null,
    cpuPerTokenUs: tokens ? cpuUs / tokens : null,
  };
}

// ---------------------------------------------------------------- bare grpc-js

async function runBare(task: BareTask) {
  const Ctor = grpc.makeGenericClientConstructor(bareDefinition, "Bare");
  const client = new Ctor(task.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }) as unknown as grpc.Client & {
    stream(req: BareRequest): grpc.ClientReadableStream<Buffer>;
  };
  const one = (n: number) =>
    new Promise<{ messages: number; bytes: number }>((resolve, reject) => {
      let messages = 0;
      let bytes = 0;
      const call = client.stream({ n, size: task.size });
      call.on("data", (b: Buffer) => {
        messages++;
        bytes += b.length;
      });
      call.on("error", reject);
      call.on("status", () => setImmediate(() => resolve({ messages, bytes })));
    });
  for (let i = 0; i < task.warmup; i++) await one(task.messages);
  let next = 0;
  let messages = 0;
  const cpu0 = cpuMicros(task.serverPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(task.concurrency, task.streams) }, async () => {
      while (next++ < task.streams) {
        // Not `messages += await …`: that reads `messages` before the await and loses the other workers' counts.
        const got = await one(task.messages);
        messages += got.messages;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuUs = cpuMicros(task.serverPid) - cpu0;
  client.close();
  return { kind: task.kind, size: task.size, concurrency: task.concurrency, streams: task.streams, messages, wallMs, cpuUs, messagesPerS: (messages / wallMs) * 1000, cpuPerMessageUs: cpuUs / messages };
}

// ---------------------------------------------------------------- hold streams open

interface Held {
  call: grpc.ClientReadableStream<StreamMessageResponse>;
  started: boolean;
  status: string | null;
  events: number;
}

function hold(pool: ChannelPool, i: number, conversationId: string, message: string, onStarted: () => void): Held {
  const call = pool.at(i).streamMessage({ conversationId, content: message });
  const h: Held = { call, started: false, status: null, events: 0 };
  call.on("data", (res: StreamMessageResponse) => {
    h.events++;
    if (!h.started && res.event?.event.case === "started") {
      h.started = true;
      onStarted();
    }
  });
  call.on("error", () => undefined);
  call.on("status", (s: grpc.StatusObject) => {
    h.status = grpc.status[s.code] ?? String(s.code);
    if (!h.started) onStarted();
  });
  return h;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

/** Median of a few readings a little apart: one reading can catch a GC in progress. */
async function steadyRss(pid: number, readings = 5, gapMs = 200): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < readings; i++) {
    values.push(rssBytes(pid));
    if (i < readings - 1) await sleep(gapMs);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] as number;
}

/** `n` sequential health Checks, `gapMs` apart, timed at the client. */
async function timeHealth(hc: ReturnType<typeof healthClient>, n: number, gapMs: number): Promise<{ latency: Distribution; failures: number }> {
  const lat: number[] = [];
  let failures = 0;
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const ok = await healthCheck(hc);
    lat.push(performance.now() - s);
    if (!ok) failures++;
    if (gapMs > 0) await sleep(gapMs);
  }
  return { latency: distribution(lat), failures };
}

async function runHold(task: HoldTask) {
  const total = task.streams + task.warmStreams;
  const channels = Math.max(1, Math.ceil(total / task.perChannel));
  const pool = new ChannelPool(task.address, channels);
  await pool.ready(30_000);
  log(`creating ${total} conversations over ${channels} channels`);
  const ids = await createConversations(pool, total);
  let started = 0;
  const onStarted = () => void started++;
  const held: Held[] = [];
  for (let i = 0; i < task.warmStreams; i++) held.push(hold(pool, i, ids[i] as string, task.message, onStarted));
  await waitFor(() => started >= task.warmStreams, 30_000);
  await sleep(task.settleMs);
  const rssBefore = await steadyRss(task.serverPid);
  const cpuBefore = cpuMicros(task.serverPid);
  let healthIdle: Distribution | undefined;
  let unaryCpuUs: number | undefined;
  const hc = task.healthChecks > 0 ? healthClient(task.address) : undefined;
  if (hc) {
    await new Promise<void>((resolve, reject) => hc.waitForReady(new Date(Date.now() + 10_000), (err) => (err ? reject(err) : resolve())));
    for (let i = 0; i < 20; i++) await healthCheck(hc);
    healthIdle = (await timeHealth(hc, task.healthChecks, task.healthGapMs)).latency;
    if (task.healthBurst) {
      // Four in flight, so the server is busy the whole window and its CPU is the calls'.
      const c0 = cpuMicros(task.serverPid);
      for (let i = 0; i < task.healthBurst; i += 4) await Promise.all([healthCheck(hc), healthCheck(hc), healthCheck(hc), healthCheck(hc)]);
      unaryCpuUs = (cpuMicros(task.serverPid) - c0) / task.healthBurst;
    }
  }

  log(`opening ${task.streams} streams`);
  const t0 = performance.now();
  const openDeadline = Date.now() + task.openTimeoutS * 1000;
  // In batches, so the server is not handed ten thousand calls in one burst.
  const BATCH = 250;
  for (let i = task.warmStreams; i < total; i += BATCH) {
    const end = Math.min(total, i + BATCH);
    for (let k = i; k < end; k++) held.push(hold(pool, k, ids[k] as string, task.message, onStarted));
    await waitFor(() => started >= end || Date.now() > openDeadline, Math.max(0, openDeadline - Date.now()));
    if (Date.now() > openDeadline) break;
  }
  const openS = (performance.now() - t0) / 1000;
  const allStarted = held.filter((h) => h.started && h.status === null).length;
  log(`${allStarted} streams open after ${openS.toFixed(1)} s`);
  await sleep(task.settleMs);
  const rssAfter = await steadyRss(task.serverPid);
  const cpuAfterOpen = cpuMicros(task.serverPid);
  const openNow = held.filter((h) => h.status === null).length;

  let health: Distribution | undefined;
  let healthFailures = 0;
  if (task.healthChecks > 0 && hc) {
    const timed = await timeHealth(hc, task.healthChecks, task.healthGapMs);
    health = timed.latency;
    healthFailures = timed.failures;
    hc.close();
  }
  const stillOpen = held.filter((h) => h.status === null).length;

  log(`cancelling ${held.length} streams`);
  for (const h of held) h.call.cancel();
  await waitFor(() => held.every((h) => h.status !== null), 60_000);
  await sleep(1000);
  const rssAfterCancel = await steadyRss(task.serverPid, 3);
  pool.close();
  return {
    kind: task.kind,
    streams: task.streams,
    warmStreams: task.warmStreams,
    channels,
    openedStarted: allStarted,
    openAtReading: openNow,
    openAfterHealth: stillOpen,
    openSeconds: openS,
    rssBeforeBytes: rssBefore,
    rssAfterBytes: rssAfter,
    rssAfterCancelBytes: rssAfterCancel,
    perStreamBytes: (rssAfter - rssBefore) / Math.max(1, openNow - task.warmStreams),
    openCpuUs: cpuAfterOpen - cpuBefore,
    endStatuses: countBy(held.map((h) => h.status ?? "still open")),
    healthIdleMs: healthIdle,
    unaryCpuUs,
    healthMs: health,
    healthFailures,
  };
}

// ---------------------------------------------------------------- slow reader and vanishing client

interface StoredRun {
  status: string;
  end_reason: string | null;
  error_code: string | null;
  end_time: number | null;
}

function storedRun(dbPath: string, conversationId: string): StoredRun | undefined {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("select status, end_reason, error_code, end_time from runs where conversation_id = ? order by start_time desc limit 1").get(conversationId) as StoredRun | undefined;
  } finally {
    db.close();
  }
}

function listMessages(pool: ChannelPool, conversationId: string): Promise<Array<{ role: number; contentChars: number; finishReason: number }>> {
  return new Promise((resolve, reject) => {
    pool.at(0).listMessages({ conversationId, pageSize: 100 }, (err, res) => {
      if (err || !res) return reject(err ?? new Error("no response"));
      resolve(res.messages.map((m) => ({ role: m.role, contentChars: m.content.length, finishReason: m.finishReason })));
    });
  });
}

async function runSlowReader(task: SlowReaderTask) {
  const pool = new ChannelPool(task.address, 1);
  await pool.ready();
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssBytes(task.serverPid)), 250);
  const rssStart = rssBytes(task.serverPid);

  // Background turns for the whole scenario.
  let stop = false;
  const bgStatuses: string[] = [];
  const background = Promise.all(
    Array.from({ length: task.backgroundConcurrency }, async (_v, w) => {
      while (!stop) {
        const id = await createConversation(pool.at(w));
        const r = await streamTurn(pool.at(w), id, task.message);
        bgStatuses.push(r.ok ? "OK" : r.status);
      }
    }),
  );

  // Background only first: the RSS the same load reaches without the two odd clients.
  await sleep(task.backgroundOnlyS * 1000);
  const rssBackgroundMax = Math.max(rssStart, ...rss);
  const samplesBefore = rss.length;

  // The slow reader: reads the first bytes of a long answer, then stops reading.
  const slowConv = await createConversation(pool.at(0));
  const slow = rawStreamMessage(task.address, { conversationId: slowConv, content: task.longMessage }, { windowBytes: 65_535 });
  await waitFor(() => slow.messages.length >= 3, 10_000);
  slow.stream.pause();
  const pausedAt = Date.now();
  const slowMessagesAtPause = slow.messages.length;
  log(`slow reader paused after ${slowMessagesAtPause} messages`);

  // The vanishing client: its TCP connection goes away mid-answer, no RST_STREAM, no GOAWAY.
  const goneConv = await createConversation(pool.at(0));
  const gone = rawStreamMessage(task.address, { conversationId: goneConv, content: task.longMessage });
  await waitFor(() => gone.messages.length >= 3, 10_000);
  const goneMessages = gone.messages.length;
  gone.socket.destroy();
  log(`vanishing client dropped its connection after ${goneMessages} messages`);

  // While the reader stays paused, the server must end and store its run.
  const storedInTime = await waitFor(() => {
    const r = storedRun(task.dbPath, slowConv);
    return r !== undefined && r.status !== "running";
  }, task.slowReaderTimeoutMs + 10_000);
  const slowStoredAfterMs = Date.now() - pausedAt;
  const slowRunWhilePaused = storedRun(task.dbPath, slowConv);
  const goneStored = await waitFor(() => {
    const r = storedRun(task.dbPath, goneConv);
    return r !== undefined && r.status !== "running";
  }, 10_000);

  const remaining = Math.max(0, task.durationS * 1000 - (Date.now() - pausedAt));
  await sleep(Math.min(remaining, 5_000));
  // The reader comes back: it gets what was buffered, then the status.
  slow.stream.resume();
  await Promise.race([slow.ended, sleep(15_000)]);
  stop = true;
  await background;
  clearInterval(sampler);
  const rssEnd = rssBytes(task.serverPid);

  const result = {
    kind: task.kind,
    rssStartBytes: rssStart,
    rssBackgroundOnlyMaxBytes: rssBackgroundMax,
    rssMaxBytes: Math.max(rssStart, ...rss),
    rssMaxWithClientsBytes: Math.max(...rss.slice(samplesBefore), rssEnd),
    rssEndBytes: rssEnd,
    rssSamples: rss.length,
    background: { concurrency: task.backgroundConcurrency, statuses: countBy(bgStatuses) },
    slowReader: {
      messagesBeforePause: slowMessagesAtPause,
      messagesAfterResume: slow.messages.length,
      grpcStatus: slow.status(),
      lastEvent: slow.messages.at(-1)?.event?.event.case ?? "none",
      storedWhilePaused: storedInTime,
      storedAfterMs: slowStoredAfterMs,
      run: slowRunWhilePaused,
      messages: await listMessages(pool, slowConv),
    },
    vanishing: {
      messagesBeforeDrop: goneMessages,
      stored: goneStored,
      run: storedRun(task.dbPath, goneConv),
      messages: await listMessages(pool, goneConv),
    },
  };
  slow.session.close();
  pool.close();
  return result;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] ?? "null") as LoadTask | null;
  if (!task) throw new Error("usage: load.ts '<task json>'");
  let result: unknown;
  switch (task.kind) {
    case "turns":
      result = await runTurns(task);
      break;
    case "sse":
      result = await runSse(task);
      break;
    case "chunks":
      result = await runChunks(task);
      break;
    case "bare":
      result = await runBare(task);
      break;
    case "hold":
      result = await runHold(task);
      break;
    case "slow-reader":
      result = await runSlowReader(task);
      break;
  }
  const self = process.cpuUsage();
  process.stdout.write(JSON.stringify({ loadPid: process.pid, cpuSelfUs: self.user + self.system, ...(result as object) }) + "\n");
  // Open channels or the simulator's keep-alive sockets must not keep the process up.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
