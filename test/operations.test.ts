/**
 * What an operator relies on: draining shutdown of the real process on
 * SIGTERM, the HTTP probes, Prometheus metrics with bounded attributes, a
 * metrics port conflict that does not stop the service, and logs without
 * content or keys.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { once } from "node:events";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from "../gen/grpc/health/v1/health_pb.js";
import { ConversationService } from "../gen/parley/v1/conversation_service_pb.js";
import { grpcClientFor } from "../src/server/grpc-definition.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import { bearer, startTestServer, tempDir, unary, type TestServer } from "./helpers/server.js";
import { drainGrpc, eventually, kinds } from "./helpers/streams.js";
import { detailsOf } from "./helpers/errors.js";

async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, "close");
  return port;
}

interface Proc {
  child: ChildProcess;
  port: number;
  dbPath: string;
  logs: string[];
  exited: Promise<number | null>;
}

/** The real entry point (`npm start` runs the same file) in its own process. */
async function startProcess(env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const dbPath = join(tempDir(), "parley.db");
  // As `npm start` runs it: one node process, no relaying wrapper.
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, PARLEY_PORT: String(port), PARLEY_DATABASE_URL: `sqlite:${dbPath}`, PARLEY_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  child.stdout!.on("data", (d: Buffer) => logs.push(...d.toString().split("\n").filter(Boolean)));
  child.stderr!.on("data", (d: Buffer) => logs.push(...d.toString().split("\n").filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await eventually(() => logs.some((l) => l.includes("parley listening")), 20_000, "the server to start");
  } catch (err) {
    // A server that started too late must not outlive the test.
    child.kill("SIGKILL");
    throw err;
  }
  return { child, port, dbPath, logs, exited };
}

function check(health: ReturnType<typeof grpcClientFor<typeof Health>>, service = ""): Promise<{ err: grpc.ServiceError | null; res: HealthCheckResponse | undefined }> {
  return unary(health.check.bind(health), { service });
}

// Each of these starts the real entry point through tsx (seconds on a loaded 2-core machine) and
// holds a turn through a grace period of seconds: more than the default 20 s a test gets.
describe("draining shutdown on SIGTERM", { timeout: 60_000 }, () => {
  it("NOT_SERVING at once, Watch told then ended, new calls UNAVAILABLE, the long turn completes, dead clients cut, exit 0", async () => {
    const p = await startProcess({ PARLEY_OFFLINE_TOKEN_DELAY_MS: "20", PARLEY_SHUTDOWN_GRACE_MS: "10000" });
    const address = `127.0.0.1:${p.port}`;
    const api = grpcClientFor(ConversationService, address);
    const health = grpcClientFor(Health, address);
    // A client that connected and died: it sent the HTTP/2 preface and never read again.
    const dead = net.connect(p.port, "127.0.0.1");
    dead.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    dead.pause();
    const deadClosed = new Promise<void>((r) => dead.once("close", () => r()));
    dead.on("error", () => {});
    try {
      const conv = (await unary(api.createConversation.bind(api), { conversation: {} })).res!.conversation!.id;
      const watch = health.watch({ service: "" });
      const watched: ServingStatus[] = [];
      const watchEnded = new Promise<void>((r) => {
        watch.on("data", (m: HealthCheckResponse) => watched.push(m.status));
        watch.on("end", () => r());
        watch.on("error", () => r());
      });
      await eventually(() => watched.length > 0, 5000, "the watch's first status");
      let firstChunk = false;
      const turn = drainGrpc(api.streamMessage({ conversationId: conv, content: "count to 60" }), (e) => (firstChunk ||= e.event.case === "chunk"));
      await eventually(() => firstChunk, 5000, "the long turn to stream");

      const termAt = Date.now();
      p.child.kill("SIGTERM");
      // Under `npm start` a Ctrl-C arrives twice (the terminal's and npm's relay): the repeat must not cut the drain short.
      setTimeout(() => p.child.kill("SIGTERM"), 20);
      await eventually(async () => (await check(health)).res?.status === ServingStatus.NOT_SERVING, 2000, "NOT_SERVING");
      expect(Date.now() - termAt).toBeLessThan(1000);
      const ready = await fetch(`http://${address}/readyz`);
      expect(ready.status).toBe(503);

      const refused = await drainGrpc(api.streamMessage({ conversationId: conv, content: "hello" }));
      expect(refused.err?.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.events).toHaveLength(0);
      expect(detailsOf(refused.err!).errorInfo?.reason).toBe("SHUTTING_DOWN");

      await watchEnded;
      expect(watched.at(-1)).toBe(ServingStatus.NOT_SERVING);

      const { events, err } = await turn;
      expect(err).toBeNull();
      expect(kinds(events).at(-1)).toBe("complete");
      expect(await p.exited).toBe(0);
      expect(p.logs.some((l) => l.includes("shut down cleanly"))).toBe(true);
      // The dead client did not hold the shutdown up: its connection was cut (read what is left to see the close).
      dead.resume();
      await deadClosed;
    } finally {
      api.close();
      health.close();
      dead.destroy();
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
  });

  it("a turn that outlives the grace is cancelled with a retryable error and stored as cancelled", async () => {
    const p = await startProcess({ PARLEY_OFFLINE_TOKEN_DELAY_MS: "50", PARLEY_SHUTDOWN_GRACE_MS: "300" });
    const api = grpcClientFor(ConversationService, `127.0.0.1:${p.port}`);
    try {
      const conv = (await unary(api.createConversation.bind(api), { conversation: {} })).res!.conversation!.id;
      let firstChunk = false;
      const turn = drainGrpc(api.streamMessage({ conversationId: conv, content: "count to 200" }), (e) => (firstChunk ||= e.event.case === "chunk"));
      await eventually(() => firstChunk, 5000, "the long turn to stream");
      p.child.kill("SIGTERM");
      const { events, err } = await turn;
      expect(err?.code).toBe(grpc.status.UNAVAILABLE);
      const last = events.at(-1);
      if (last?.event.case !== "error") throw new Error("no error event");
      expect(last.event.value.retryable).toBe(true);
      expect(last.event.value.reason).toBe("SHUTTING_DOWN");
      expect(await p.exited).toBe(0);
      const store = await openSqliteStore(p.dbPath);
      try {
        const run = await store.getRun("local", events[0]!.runId);
        expect(run?.status).toBe("cancelled");
        expect(run?.endReason).toBe("shutdown");
      } finally {
        await store.close();
      }
    } finally {
      api.close();
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
  });

  it("still drains and exits 0 when its log reader stops reading", async () => {
    // pino's default would sleep-and-retry a blocked stdout write forever, ignoring SIGTERM.
    const p = await startProcess({});
    const health = grpcClientFor(Health, `127.0.0.1:${p.port}`);
    try {
      // The reader is there but reads no more: the pipe fills and writes would block.
      p.child.stdout!.pause();
      // Every call logs a line (~200 bytes): enough to fill the pipe and our stream's buffer.
      for (let i = 0; i < 2000; i++) await check(health);
      p.child.kill("SIGTERM");
      const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r("still running after 10 s"), 10_000))]);
      expect(code).toBe(0);
    } finally {
      health.close();
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
  });
});

/** Prometheus text → `name{labels}` → value, for the series that are there. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("metrics and probes", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PARLEY_OFFLINE_TOKEN_DELAY_MS: "350" });
  });
  afterAll(() => s.close(true));

  it("serves /healthz and /readyz over HTTP/1.1 on the main port", async () => {
    expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toContain("ready");
  });

  it("has the named metrics with their units and buckets; a 0.35 s first chunk lands in the 0.5 s bucket", async () => {
    const conv = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} })).res!.conversation!.id;
    // Two model calls (the calculator call, then the answer), each 0.35 s to its first chunk.
    const { events } = await drainGrpc(s.grpc.streamMessage({ conversationId: conv, content: "what is 2+3?" }));
    expect(kinds(events).at(-1)).toBe("complete");
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    // The exporter keeps the OpenTelemetry names (dots become underscores) and states each unit in a # UNIT line.
    for (const [name, type, unit] of [
      ["rpc_server_call_duration", "histogram", "s"],
      ["gen_ai_client_token_usage", "histogram", "{token}"],
      ["gen_ai_client_operation_duration", "histogram", "s"],
      ["gen_ai_client_operation_time_to_first_chunk", "histogram", "s"],
      ["gen_ai_execute_tool_duration", "histogram", "s"],
      ["parley_run_duration", "histogram", "s"],
      ["parley_events_sent_total", "counter", "{event}"],
      ["parley_streams_active", "gauge", "{stream}"],
      ["parley_runs_active", "gauge", "{run}"],
      ["process_cpu_time_total", "counter", "s"],
      ["process_memory_usage", "gauge", "By"],
    ] as const) {
      expect(text, name).toContain(`# TYPE ${name} ${type}`);
      expect(text, name).toContain(`# UNIT ${name} ${unit}`);
    }
    const m = series(text);
    const ttft = (le: string) => [...m].find(([k]) => k.startsWith("gen_ai_client_operation_time_to_first_chunk_bucket") && k.includes(`le="${le}"`))?.[1];
    expect(ttft("0.25")).toBe(0);
    expect(ttft("0.5")).toBe(2);
    expect(ttft("10")).toBe(2);
    const rpc = [...m.keys()].find((k) => k.startsWith("rpc_server_call_duration_count") && k.includes('rpc_method="parley.v1.ConversationService/StreamMessage"'));
    expect(rpc).toContain('rpc_system_name="grpc"');
    expect(rpc).toContain('rpc_status_code="OK"');
    expect([...m.keys()].some((k) => k.startsWith("gen_ai_client_token_usage_sum") && k.includes('gen_ai_token_type="output"'))).toBe(true);
    expect([...m.keys()].some((k) => k.startsWith("parley_events_sent_total") && k.includes('parley_event_type="chunk"'))).toBe(true);
    // Turn-duration buckets reach 120 s.
    expect([...m.keys()].some((k) => k.startsWith("parley_run_duration_bucket") && k.includes('le="120"'))).toBe(true);
  });
});

describe("bounded attributes", () => {
  it("100 turns on 100 conversations add no series per conversation", async () => {
    const s = await startTestServer({ PARLEY_OFFLINE_TOKEN_DELAY_MS: "0" });
    try {
      const turn = async () => {
        const conv = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} })).res!.conversation!.id;
        await drainGrpc(s.grpc.streamMessage({ conversationId: conv, content: "what is 2+2?" }));
        return conv;
      };
      await turn();
      const before = new Set(series(await (await fetch(`${s.baseUrl}/metrics`)).text()).keys());
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(...(await Promise.all(Array.from({ length: 10 }, turn))));
      const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
      const after = new Set(series(text).keys());
      expect([...after].filter((k) => !before.has(k))).toEqual([]);
      for (const id of ids.slice(0, 5)) expect(text).not.toContain(id);
    } finally {
      await s.close(true);
    }
  }, 60_000);
});

describe("metrics port", () => {
  it("serves /metrics on PARLEY_METRICS_PORT", async () => {
    const port = await freePort();
    const s = await startTestServer({ PARLEY_METRICS_PORT: String(port) });
    try {
      expect(s.app.metricsPort).toBe(port);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("process_memory_usage");
    } finally {
      await s.close(true);
    }
  });

  it("a taken metrics port does not stop the service, and the log says so", async () => {
    const blocker = net.createServer().listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as net.AddressInfo).port;
    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (d: Buffer) => lines.push(d.toString()));
    const s = await startTestServer({ PARLEY_METRICS_PORT: String(port), PARLEY_LOG_LEVEL: "info" }, {}, tempDir(), logs);
    try {
      expect(s.app.metricsPort).toBeNull();
      const { err } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
      expect(err).toBeNull();
      expect(lines.join("")).toMatch(/metrics port \d+ unavailable \(EADDRINUSE\)/);
    } finally {
      await s.close(true);
      blocker.close();
    }
  });
});

describe("logs", () => {
  it("never contain message content or API keys with default settings", async () => {
    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (d: Buffer) => lines.push(d.toString()));
    const key = "key-super-secret-7788";
    const s = await startTestServer({ PARLEY_API_KEYS: `${key}=alpha`, PARLEY_LOG_LEVEL: "info", PARLEY_OFFLINE_TOKEN_DELAY_MS: "0" }, {}, tempDir(), logs);
    try {
      const content = "zebra-confidential-content-42 what is 6*7?";
      const conv = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: { title: "t" } }, bearer(key))).res!.conversation!.id;
      const { events } = await drainGrpc(s.grpc.streamMessage({ conversationId: conv, content }, bearer(key)));
      expect(kinds(events).at(-1)).toBe("complete");
      await unary(s.grpc.getConversation.bind(s.grpc), { id: conv }, bearer("wrong-key-but-secret-9911"));
      const all = lines.join("");
      expect(all).toContain('"msg":"call"');
      expect(all).toContain('"msg":"turn"');
      expect(all).toContain('"tenant":"alpha"');
      expect(all).not.toContain("zebra-confidential");
      expect(all).not.toContain("6*7");
      expect(all).not.toContain(key);
      expect(all).not.toContain("wrong-key-but-secret");
    } finally {
      await s.close(true);
    }
  });
});
