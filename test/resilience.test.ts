/**
 * The resilience layer against injected faults, through the real server and
 * the OpenAI-compatible simulator. Time is made short by configuration
 * (half-open after 300 ms instead of 60 s), never by sleeping for minutes.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
import { FinishReason, Role } from "../gen/parley/v1/conversation_pb.js";
import { AdminService, CircuitState } from "../gen/parley/v1/admin_service_pb.js";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { RunEvent } from "../gen/parley/v1/events_pb.js";
import { grpcClientFor } from "../src/server/grpc-definition.js";
import { startSimulator, SIM_MODEL, type Simulator } from "./sim/server.js";
import type { Scenario } from "./sim/scenario.js";
import { bearer, startTestServer, unary, type TestServer } from "./helpers/server.js";
import { drainGrpc, eventually, kinds, textOf } from "./helpers/streams.js";
import { detailsOf } from "./helpers/errors.js";
import type { AppOverrides } from "../src/app.js";

interface Rig {
  s: TestServer;
  sim: Simulator;
  conversation(): Promise<string>;
  turn(content: string, opts?: { conversationId?: string; deadlineMs?: number; includeDebug?: boolean; onEvent?: (e: RunEvent, all: RunEvent[]) => void }): Promise<{ events: RunEvent[]; err: grpc.ServiceError | null; conversationId: string }>;
  close(): Promise<void>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

const FAST = {
  PARLEY_BREAKER_HALF_OPEN_MS: "300",
  PARLEY_BREAKER_HALF_OPEN_MAX_MS: "1200",
  PARLEY_RETRY_MAX: "0",
  PARLEY_RETRY_BASE_MS: "10",
};

async function rig(env: Record<string, string> = {}, simOpts: { defaults?: Scenario; scenarios?: Record<string, Scenario> } = {}, overrides: AppOverrides = {}): Promise<Rig> {
  const sim = await startSimulator(simOpts);
  const s = await startTestServer({ PARLEY_PROVIDER: "openai", OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: "sk-test-not-secret", PARLEY_MODEL: SIM_MODEL, ...FAST, ...env }, overrides);
  const r: Rig = {
    s,
    sim,
    async conversation() {
      const { res } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
      return res!.conversation!.id;
    },
    async turn(content, opts = {}) {
      const conversationId = opts.conversationId ?? (await r.conversation());
      const call = s.grpc.streamMessage(
        { conversationId, content, includeDebug: opts.includeDebug ?? false },
        new grpc.Metadata(),
        opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {},
      );
      return { ...(await drainGrpc(call, opts.onEvent)), conversationId };
    },
    async close() {
      await s.close(true);
      await sim.close();
    },
  };
  rigs.push(r);
  return r;
}

const fail500: Scenario = { fault: { kind: "status", status: 500 } };

function terminalError(events: RunEvent[]) {
  const last = events.at(-1);
  return last?.event.case === "error" ? last.event.value : undefined;
}

async function openCircuit(r: Rig, failures = 5): Promise<void> {
  for (let i = 0; i < failures; i++) {
    r.sim.enqueue(fail500);
    const { err } = await r.turn("hello");
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
  }
}

describe("circuit breaker", () => {
  it("opens after 5 consecutive upstream failures; the 6th call fails fast with CIRCUIT_OPEN and a retry delay", async () => {
    const r = await rig();
    await openCircuit(r);
    expect(r.sim.stats.requests).toBe(5);
    const started = Date.now();
    const { events, err } = await r.turn("hello");
    expect(Date.now() - started).toBeLessThan(250);
    expect(events).toHaveLength(0);
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    const d = detailsOf(err!);
    expect(d.errorInfo?.reason).toBe("CIRCUIT_OPEN");
    expect(d.errorInfo?.metadata["dependency"]).toBe(`model:${SIM_MODEL}`);
    expect(d.retryDelayMs).toBeGreaterThan(0);
    expect(d.retryDelayMs).toBeLessThanOrEqual(300);
    // No request reached the model.
    expect(r.sim.stats.requests).toBe(5);
  });

  it("does not count a caller's cancel or a 400 as failures", async () => {
    const r = await rig();
    for (let i = 0; i < 6; i++) {
      r.sim.enqueue({ fault: { kind: "status", status: 400, message: "bad request" } });
      const { err } = await r.turn("hello");
      expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    }
    const { events } = await r.turn("hello");
    expect(kinds(events).at(-1)).toBe("complete");
  });

  it("half-open: with 10 concurrent turns only the trial calls reach the model, 2 successes close it", async () => {
    const r = await rig({}, { defaults: { pacing: { tokenDelayMs: 20 } } });
    await openCircuit(r);
    await new Promise((res) => setTimeout(res, 350));
    const before = r.sim.stats.requests;
    const results = await Promise.all(Array.from({ length: 10 }, () => r.turn("hello")));
    const completed = results.filter((x) => kinds(x.events).at(-1) === "complete");
    const rejected = results.filter((x) => x.err?.code === grpc.status.UNAVAILABLE);
    expect(r.sim.stats.requests - before).toBe(2);
    expect(completed).toHaveLength(2);
    expect(rejected).toHaveLength(8);
    for (const x of rejected) expect(detailsOf(x.err!).errorInfo?.reason).toBe("CIRCUIT_OPEN");
    expect(r.s.app.policies.model(SIM_MODEL).breaker.state).toBe("closed");
    const next = await r.turn("hello");
    expect(kinds(next.events).at(-1)).toBe("complete");
  });

  it("a failed trial re-opens it with a doubled delay, capped at the maximum", async () => {
    const r = await rig();
    await openCircuit(r);
    const delays: number[] = [];
    for (const expected of [600, 1200, 1200]) {
      const wait = r.s.app.policies.model(SIM_MODEL).breaker.snapshot().retryAfterMs;
      await new Promise((res) => setTimeout(res, wait + 30));
      r.sim.enqueue(fail500);
      const trial = await r.turn("hello");
      expect(trial.err?.code).toBe(grpc.status.UNAVAILABLE);
      const { err } = await r.turn("hello");
      const delay = detailsOf(err!).retryDelayMs!;
      delays.push(delay);
      expect(delay).toBeLessThanOrEqual(expected);
      expect(delay).toBeGreaterThan(expected - 200);
    }
    expect(delays).toHaveLength(3);
    const changes = r.s.app.policies.model(SIM_MODEL).breaker.snapshot().recentChanges.map((c) => `${c.from}->${c.to}`);
    expect(changes).toEqual(["closed->open", "open->half_open", "half_open->open", "open->half_open", "half_open->open", "open->half_open", "half_open->open"]);
  });
});

describe("retries and timeouts", () => {
  it("a 503 before the first byte is retried once; the caller sees the answer once", async () => {
    const r = await rig({ PARLEY_RETRY_MAX: "2" });
    r.sim.enqueue({ fault: { kind: "status", status: 503 } });
    const { events, err } = await r.turn("hello", { includeDebug: true });
    expect(err).toBeNull();
    expect(r.sim.stats.requests).toBe(2);
    const text = textOf(events);
    expect(text.match(/You said/g)).toHaveLength(1);
    const debug = events.filter((e) => e.event.case === "debug").map((e) => (e.event.case === "debug" ? e.event.value.kind : ""));
    expect(debug).toContain("retry");
  });

  it("a reset after the first chunks is not retried: error UNAVAILABLE, partial text stored, nothing duplicated", async () => {
    const r = await rig({ PARLEY_RETRY_MAX: "2" });
    r.sim.enqueue({ fault: { kind: "reset", afterChunks: 4 } });
    const { events, err, conversationId } = await r.turn("count to 50");
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(terminalError(events)?.retryable).toBe(true);
    expect(r.sim.stats.requests).toBe(1);
    const seen = textOf(events);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.startsWith("1 2")).toBe(true);
    const { res } = await unary(r.s.grpc.listMessages.bind(r.s.grpc), { conversationId });
    const stored = res!.messages.find((m) => m.role === Role.ASSISTANT)!;
    expect(stored.content).toBe(seen);
    expect(stored.finishReason).toBe(FinishReason.ERROR);
  });

  it("a model endpoint that cannot be reached ends UNAVAILABLE UPSTREAM_UNAVAILABLE, retryable, not INTERNAL", async () => {
    // A refused port (a simulator that was closed) and a port undici will not dial ("bad port").
    const gone = await startSimulator();
    const refused = gone.url;
    await gone.close();
    for (const url of [refused, "http://127.0.0.1:9/v1"]) {
      const s = await startTestServer({ PARLEY_PROVIDER: "openai", OPENAI_BASE_URL: url, OPENAI_API_KEY: "sk-test-not-secret", PARLEY_MODEL: SIM_MODEL, ...FAST });
      try {
        const { res } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
        const conversationId = res!.conversation!.id;
        const { events, err } = await drainGrpc(s.grpc.streamMessage({ conversationId, content: "hello" }));
        expect(err?.code, url).toBe(grpc.status.UNAVAILABLE);
        const end = terminalError(events);
        expect(end?.reason, url).toBe("UPSTREAM_UNAVAILABLE");
        expect(end?.retryable, url).toBe(true);
        const run = await s.app.store.getRun("local", events[0]!.runId);
        expect(run?.endReason, url).toBe("upstream_failure");
      } finally {
        await s.close(true);
      }
    }
  });

  it("429 with Retry-After: 2 is retried after at least 2 s when the budget allows", async () => {
    const r = await rig({ PARLEY_RETRY_MAX: "2" });
    r.sim.enqueue({ fault: { kind: "status", status: 429, retryAfter: "2" } });
    const { events, err } = await r.turn("hello");
    expect(err).toBeNull();
    expect(kinds(events).at(-1)).toBe("complete");
    const [first, second] = r.sim.requests.filter((q) => q.body);
    expect(second!.startedAt - first!.startedAt).toBeGreaterThanOrEqual(2000);
  });

  it("429 with Retry-After beyond the caller's deadline ends at once, the delay in RetryInfo", async () => {
    const r = await rig({ PARLEY_RETRY_MAX: "2" });
    r.sim.enqueue({ fault: { kind: "status", status: 429, retryAfter: "2" } });
    const started = Date.now();
    const { events, err } = await r.turn("hello", { deadlineMs: 1500 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(detailsOf(err!).retryDelayMs).toBe(2000);
    expect(terminalError(events)?.retryDelay && durationMs(terminalError(events)!.retryDelay!)).toBe(2000);
    expect(r.sim.stats.requests).toBe(1);
  });

  it("a stall before the first token ends at the first-token timeout and aborts the upstream request", async () => {
    const r = await rig({ PARLEY_FIRST_TOKEN_TIMEOUT_MS: "300" });
    r.sim.enqueue({ fault: { kind: "stall", afterChunks: 0 } });
    const started = Date.now();
    const { events, err } = await r.turn("hello");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(terminalError(events)?.reason).toBe("FIRST_TOKEN_TIMEOUT");
    await eventually(() => r.sim.stats.disconnects >= 1, 2000, "the simulator to see the request aborted");
  });

  it("a stall mid-stream ends at the idle timeout, aborts the request, and stores the partial text", async () => {
    const r = await rig({ PARLEY_IDLE_TIMEOUT_MS: "300" });
    r.sim.enqueue({ fault: { kind: "stall", afterChunks: 3 } });
    const { events, err, conversationId } = await r.turn("count to 50");
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(terminalError(events)?.reason).toBe("IDLE_TIMEOUT");
    await eventually(() => r.sim.stats.disconnects >= 1, 2000, "the simulator to see the request aborted");
    const { res } = await unary(r.s.grpc.listMessages.bind(r.s.grpc), { conversationId });
    expect(res!.messages.find((m) => m.role === Role.ASSISTANT)?.content).toBe(textOf(events));
  });
});

describe("bulkhead, fallback, tools", () => {
  it("a full bulkhead answers RESOURCE_EXHAUSTED without a model call", async () => {
    const r = await rig({ PARLEY_MODEL_CONCURRENCY: "1", PARLEY_MODEL_QUEUE: "0" }, { defaults: { pacing: { tokenDelayMs: 20 } } });
    const slow = r.turn("count to 60", {});
    await eventually(() => r.sim.stats.chunksSent > 2, 5000, "the first turn to stream");
    const requests = r.sim.stats.requests;
    const { events, err } = await r.turn("hello");
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(events).toHaveLength(0);
    expect(detailsOf(err!).errorInfo?.reason).toBe("BULKHEAD_FULL");
    expect(r.sim.stats.requests).toBe(requests);
    expect(kinds((await slow).events).at(-1)).toBe("complete");
  });

  it("the fallback model serves when the primary's circuit is open", async () => {
    // The primary always fails; the fallback (a scenario chosen by its model name) answers.
    const r = await rig({ PARLEY_FALLBACK_MODEL: "parley-fallback" }, { defaults: fail500, scenarios: { "parley-fallback": {} } });
    for (let i = 0; i < 6; i++) {
      const { events, err } = await r.turn("hello", { includeDebug: true });
      expect(err).toBeNull();
      const complete = events.at(-1);
      if (complete?.event.case !== "complete") throw new Error("no complete");
      expect(complete.event.value.message?.model).toBe("parley-fallback");
      const fallback = events.find((e) => e.event.case === "debug" && e.event.value.kind === "fallback");
      if (fallback?.event.case !== "debug") throw new Error("no fallback debug event");
      // The 6th turn finds the primary's circuit open and goes straight to the fallback.
      expect(fallback.event.value.attributes["reason"]).toBe(i < 5 ? "HTTP 500" : "CircuitOpenError");
    }
    const models = r.sim.requests.filter((q) => q.body).map((q) => q.body!.model);
    expect(models.filter((m) => m === SIM_MODEL)).toHaveLength(5);
    expect(models.filter((m) => m === "parley-fallback")).toHaveLength(6);
    expect(r.s.app.policies.model(SIM_MODEL).breaker.state).toBe("open");
  });

  it("the fallback serves when the primary fails before its first token", async () => {
    const r = await rig({ PARLEY_FALLBACK_MODEL: "parley-fallback" });
    r.sim.enqueue(fail500);
    const { events } = await r.turn("hello");
    const complete = events.at(-1);
    if (complete?.event.case !== "complete") throw new Error("no complete");
    expect(complete.event.value.message?.model).toBe("parley-fallback");
    expect(r.sim.requests.filter((q) => q.body).map((q) => q.body!.model)).toEqual([SIM_MODEL, "parley-fallback"]);
  });

  it("a tool that hangs times out into an error tool_result, and the turn continues", async () => {
    const hang = tool(
      async (_input, config) =>
        new Promise<string>((_, reject) => config?.signal?.addEventListener("abort", () => reject(new Error("aborted")))),
      { name: "hang", description: "never returns", schema: z.object({}) },
    );
    const r = await rig({ PARLEY_TOOL_TIMEOUT_MS: "200" }, {}, { extraTools: [hang] });
    r.sim.enqueue({ reply: { toolCalls: [{ name: "hang", arguments: "{}" }] } });
    const { events, err } = await r.turn("use the hang tool");
    expect(err).toBeNull();
    const result = events.find((e) => e.event.case === "toolResult");
    if (result?.event.case !== "toolResult") throw new Error("no tool result");
    expect(result.event.value.isError).toBe(true);
    expect(result.event.value.content).toContain("did not finish within 200 ms");
    expect(kinds(events).at(-1)).toBe("complete");
    expect(textOf(events)).toContain("hang tool failed");
  });
});

describe("AdminService.GetStatus", () => {
  it("shows breaker state, counters and state changes to admins, and refuses other callers", async () => {
    const r = await rig({ PARLEY_API_KEYS: "admin-key-123=ops:admin,user-key-456=alpha" });
    const md = bearer("user-key-456");
    for (let i = 0; i < 5; i++) {
      r.sim.enqueue(fail500);
      const { res } = await unary(r.s.grpc.createConversation.bind(r.s.grpc), { conversation: {} }, md);
      await drainGrpc(r.s.grpc.streamMessage({ conversationId: res!.conversation!.id, content: "hello" }, md));
    }
    const admin = grpcClientFor(AdminService, r.s.address);
    try {
      const denied = await unary(admin.getStatus.bind(admin), {}, bearer("user-key-456"));
      expect(denied.err?.code).toBe(grpc.status.PERMISSION_DENIED);
      const { err, res } = await unary(admin.getStatus.bind(admin), {}, bearer("admin-key-123"));
      expect(err).toBeNull();
      const dep = res!.dependencies.find((d) => d.name === `model:${SIM_MODEL}`)!;
      expect(dep.state).toBe(CircuitState.OPEN);
      expect(dep.failedCalls).toBe(5n);
      expect(dep.consecutiveFailures).toBe(5);
      expect(dep.lastFailureTime).toBeDefined();
      expect(dep.retryAfter && durationMs(dep.retryAfter)).toBeGreaterThan(0);
      expect(dep.recentChanges.at(-1)?.reason).toContain("HTTP 500");
      expect(res!.version).toBe(r.s.config.version);
      expect(res!.config["openai_api_key"]).toBe("set");
      expect(JSON.stringify(res!.config)).not.toContain("sk-test-not-secret");
      expect(JSON.stringify(res!.config)).not.toContain("admin-key-123");
    } finally {
      admin.close();
    }
  });
});
