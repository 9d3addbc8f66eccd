/**
 * Streaming fidelity: the real app (ChatOpenAI over HTTP) against the
 * simulator's provider quirks. Each case checks what the gRPC caller got,
 * what was stored, and what the (strict) simulator saw next, so a quirk
 * that is "handled" by breaking the history cannot pass.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
import type { RunEvent } from "../gen/parley/v1/events_pb.js";
import { FinishReason, Role, type Message } from "../gen/parley/v1/conversation_pb.js";
import { startSimulator, SIM_MODEL, type Simulator } from "./sim/server.js";
import type { Scenario } from "./sim/scenario.js";
import type { ChatRequest, WireMessage } from "./sim/wire.js";
import { promptTokens } from "./sim/convert.js";
import { tokenize } from "../src/agent/offline/script.js";
import { startTestServer, unary, type TestServer } from "./helpers/server.js";
import { drainGrpc, eventually, kinds, textOf } from "./helpers/streams.js";

type ToolCallEvent = Extract<RunEvent["event"], { case: "toolCall" }>["value"];
type ToolResultEvent = Extract<RunEvent["event"], { case: "toolResult" }>["value"];
type CompleteEvent = Extract<RunEvent["event"], { case: "complete" }>["value"];

/** An unpaired surrogate half anywhere in a string. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

let sim: Simulator;
let s: TestServer;
/** Times the `fail` tool ran, and the `sleepy` tool's end ("aborted" or "slept"). */
let failRuns = 0;
const sleepyEnds: string[] = [];

const failTool = tool(
  async () => {
    failRuns++;
    throw new Error("boom");
  },
  { name: "fail", description: "Always fails.", schema: z.object({}) },
);

const sleepyTool = tool(
  async (_input, config) =>
    await new Promise<string>((resolve, reject) => {
      const signal = config?.signal;
      const timer = setTimeout(() => {
        sleepyEnds.push("slept");
        resolve("rested");
      }, 10_000);
      const onAbort = () => {
        clearTimeout(timer);
        sleepyEnds.push("aborted");
        reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    }),
  { name: "sleepy", description: "Waits ten seconds, or until aborted.", schema: z.object({}) },
);

beforeAll(async () => {
  sim = await startSimulator();
  s = await startTestServer(
    { PARLEY_PROVIDER: "openai", OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: "sk-test-not-secret", PARLEY_MODEL: SIM_MODEL },
    { extraTools: [failTool, sleepyTool] },
  );
});
afterAll(async () => {
  await s?.close(true);
  await sim?.close();
});
beforeEach(() => sim.reset());

// ---------------------------------------------------------------- helpers

async function newConversation(): Promise<string> {
  const { err, res } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
  expect(err).toBeNull();
  return res!.conversation!.id;
}

interface Turn {
  conversationId: string;
  events: RunEvent[];
  err: grpc.ServiceError | null;
  runId: string;
  calls: ToolCallEvent[];
  results: ToolResultEvent[];
  chunks: string[];
  complete: CompleteEvent | undefined;
}

function describeTurn(conversationId: string, events: RunEvent[], err: grpc.ServiceError | null): Turn {
  const calls: ToolCallEvent[] = [];
  const results: ToolResultEvent[] = [];
  const chunks: string[] = [];
  let complete: CompleteEvent | undefined;
  for (const e of events) {
    if (e.event.case === "toolCall") calls.push(e.event.value);
    else if (e.event.case === "toolResult") results.push(e.event.value);
    else if (e.event.case === "chunk") chunks.push(e.event.value.text);
    else if (e.event.case === "complete") complete = e.event.value;
  }
  return { conversationId, events, err, runId: events[0]?.runId ?? "", calls, results, chunks, complete };
}

/** One turn over grpc-js, scripting the next model requests first. */
async function turn(content: string, scenarios: Scenario[] = [], conversationId?: string): Promise<Turn> {
  const id = conversationId ?? (await newConversation());
  sim.enqueue(...scenarios);
  const { events, err } = await drainGrpc(s.grpc.streamMessage({ conversationId: id, content }));
  return describeTurn(id, events, err);
}

/** started first, exactly one terminal event, and it is `complete`, last. */
function expectCompleted(t: Turn): CompleteEvent {
  const k = kinds(t.events);
  const terminal = k.filter((x) => x === "complete" || x === "error");
  expect(terminal, `terminal events of ${JSON.stringify(k)}`).toEqual(["complete"]);
  expect(t.err).toBeNull();
  expect(k[0]).toBe("started");
  expect(k.at(-1)).toBe("complete");
  // Every sequenced event in order, one run.
  const seqs = t.events.filter((e) => e.event.case !== "heartbeat").map((e) => e.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  expect(new Set(t.events.map((e) => e.runId)).size).toBe(1);
  return t.complete!;
}

async function stored(conversationId: string): Promise<Message[]> {
  const { err, res } = await unary(s.grpc.listMessages.bind(s.grpc), { conversationId });
  expect(err).toBeNull();
  return res!.messages;
}

/** The chat requests the simulator parsed, in order, since the last reset. */
const modelRequests = (): ChatRequest[] => sim.requests.flatMap((r) => (r.body ? [r.body] : []));

/** The assistant tool-call message of a request's history and the tool messages answering it. */
function toolExchange(messages: WireMessage[]): { calls: Array<{ id: string; name: string; args: unknown }>; answers: Map<string, string> } {
  const assistant = messages.findLast((m): m is Extract<WireMessage, { role: "assistant" }> => m.role === "assistant" && (m.tool_calls?.length ?? 0) > 0);
  const calls = (assistant?.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments || "{}") as unknown }));
  const answers = new Map<string, string>();
  for (const m of messages) if (m.role === "tool") answers.set(m.tool_call_id, typeof m.content === "string" ? m.content : JSON.stringify(m.content));
  return { calls, answers };
}

// ---------------------------------------------------------------- 1. fragmented arguments

describe("tool-call arguments split across many deltas", () => {
  it.each([1, 2, 5])("argsFragmentSize %i: one calculator call with the whole arguments", async (size) => {
    const t = await turn("what is 17*23?", [{ quirks: { argsFragmentSize: size } }]);
    const complete = expectCompleted(t);
    expect(t.calls).toHaveLength(1);
    const [call] = t.calls;
    expect(call!.name).toBe("calculator");
    expect(call!.id).not.toBe("");
    expect(call!.arguments).toEqual({ expression: "17*23" });
    expect(t.results).toHaveLength(1);
    expect(t.results[0]).toMatchObject({ callId: call!.id, content: "391", isError: false });
    expect(textOf(t.events)).toContain("391");
    expect(complete.steps).toBe(2);

    // The follow-up request replayed the repaired call, whole, with its answer.
    const reqs = modelRequests();
    expect(reqs).toHaveLength(2);
    const { calls, answers } = toolExchange(reqs[1]!.messages);
    expect(calls).toEqual([{ id: call!.id, name: "calculator", args: { expression: "17*23" } }]);
    expect(answers.get(call!.id)).toBe("391");

    const messages = await stored(t.conversationId);
    expect(messages.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]);
    expect(messages[1]!.toolCalls.map((c) => [c.id, c.arguments])).toEqual([[call!.id, { expression: "17*23" }]]);
    expect(messages[2]).toMatchObject({ toolCallId: call!.id, content: "391", isError: false });
  });
});

// ---------------------------------------------------------------- 2. parallel calls

describe("parallel tool calls under index and id quirks", () => {
  it.each<[string, Scenario["quirks"]]>([
    ["no quirk", {}],
    ["reuseIndexZero + omitIdAfterFirst + argsFragmentSize 3", { reuseIndexZero: true, omitIdAfterFirst: true, argsFragmentSize: 3 }],
    ["omitIndex + argsFragmentSize 3", { omitIndex: true, argsFragmentSize: 3 }],
    ["omitIdEntirely", { omitIdEntirely: true }],
    ["reuseIndexZero alone", { reuseIndexZero: true }],
  ])("%s: two calls, two results paired by id, both answers", async (_name, quirks) => {
    const t = await turn("what is 1+1 and 2+2?", [{ quirks }]);
    const complete = expectCompleted(t);
    expect(t.calls).toHaveLength(2);
    const ids = t.calls.map((c) => c.id);
    expect(ids.every((id) => id !== "")).toBe(true);
    expect(new Set(ids).size).toBe(2);
    expect(t.calls.map((c) => c.name)).toEqual(["calculator", "calculator"]);
    expect(t.calls.map((c) => c.arguments)).toEqual([{ expression: "1+1" }, { expression: "2+2" }]);

    expect(t.results).toHaveLength(2);
    const byCall = new Map(t.results.map((r) => [r.callId, r]));
    expect(byCall.get(ids[0]!)).toMatchObject({ content: "2", isError: false });
    expect(byCall.get(ids[1]!)).toMatchObject({ content: "4", isError: false });

    const text = textOf(t.events);
    expect(text).toContain("1+1 = 2");
    expect(text).toContain("2+2 = 4");
    expect(complete.steps).toBe(2);

    // The follow-up request got past the strict pairing check and carried both calls and both answers.
    const reqs = modelRequests();
    expect(reqs).toHaveLength(2);
    expect(sim.stats.completed).toBe(2);
    const { calls, answers } = toolExchange(reqs[1]!.messages);
    expect(calls.map((c) => [c.id, c.args])).toEqual([
      [ids[0], { expression: "1+1" }],
      [ids[1], { expression: "2+2" }],
    ]);
    expect(answers.get(ids[0]!)).toBe("2");
    expect(answers.get(ids[1]!)).toBe("4");

    const messages = await stored(t.conversationId);
    expect(messages.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT, Role.TOOL, Role.TOOL, Role.ASSISTANT]);
    expect(messages[1]!.toolCalls.map((c) => c.id)).toEqual(ids);
    expect(new Set(messages.slice(2, 4).map((m) => m.toolCallId))).toEqual(new Set(ids));
  });
});

// ---------------------------------------------------------------- 3. empty arguments

describe("a tool without parameters called with empty arguments", () => {
  it.each<[string, Scenario]>([
    ['arguments ""', { reply: { toolCalls: [{ name: "clock", arguments: "" }] } }],
    ["no arguments field (omitArguments)", { reply: { toolCalls: [{ name: "clock" }] }, quirks: { omitArguments: true } }],
  ])("%s: the clock runs with {} (UTC)", async (_name, scenario) => {
    const t = await turn("hello", [scenario]);
    const complete = expectCompleted(t);
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]).toMatchObject({ name: "clock", arguments: {} });
    expect(t.results).toHaveLength(1);
    const result = t.results[0]!;
    expect(result.callId).toBe(t.calls[0]!.id);
    expect(result.isError).toBe(false);
    expect(result.content).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(UTC\+00:00\)$/);
    expect(textOf(t.events)).toContain(`The time is ${result.content}.`);
    expect(complete.steps).toBe(2);

    const reqs = modelRequests();
    expect(reqs).toHaveLength(2);
    const { calls, answers } = toolExchange(reqs[1]!.messages);
    expect(calls).toEqual([{ id: t.calls[0]!.id, name: "clock", args: {} }]);
    expect(answers.get(t.calls[0]!.id)).toBe(result.content);
  });
});

// ---------------------------------------------------------------- 4. arguments that never parse

describe("arguments that never become valid JSON", () => {
  it("report an error result, never run the tool, and leave a history a strict server accepts", async () => {
    const t = await turn("what is 17*23?", [{ reply: { toolCalls: [{ name: "calculator", arguments: '{"expression": "17*' }] }, quirks: { finishReason: "length" } }]);
    const complete = expectCompleted(t);
    expect(t.calls).toHaveLength(1);
    const call = t.calls[0]!;
    expect(call.name).toBe("calculator");
    expect(call.id).not.toBe("");
    expect(t.results).toHaveLength(1);
    const result = t.results[0]!;
    expect(result.callId).toBe(call.id);
    expect(result.isError).toBe(true);
    expect(result.content).toMatch(/not valid JSON/);
    // Not a calculator output: the calculator would have said "not a valid arithmetic expression".
    expect(result.content).not.toMatch(/arithmetic/);
    expect(kinds(t.events).indexOf("toolCall")).toBeLessThan(kinds(t.events).indexOf("toolResult"));
    expect(complete.steps).toBeGreaterThanOrEqual(1);

    // Any follow-up request in the same turn carried the error result, not a calculator result.
    for (const req of modelRequests().slice(1)) {
      const { answers } = toolExchange(req.messages);
      expect(answers.get(call.id)).toBe(result.content);
    }

    const messages = await stored(t.conversationId);
    expect(messages[0]!.role).toBe(Role.USER);
    expect(messages[1]!.role).toBe(Role.ASSISTANT);
    expect(messages[1]!.toolCalls.map((c) => [c.id, c.name])).toEqual([[call.id, "calculator"]]);
    expect(messages[2]).toMatchObject({ role: Role.TOOL, toolCallId: call.id, isError: true, content: result.content });

    // The next turn replays that history to the strict simulator and completes.
    sim.reset();
    const next = await turn("what is 2+3?", [], t.conversationId);
    expectCompleted(next);
    expect(next.results.map((r) => r.content)).toEqual(["5"]);
    expect(textOf(next.events)).toContain("2+3 = 5");
    const first = modelRequests()[0]!;
    const replayed = toolExchange(first.messages.slice(0, 3));
    expect(replayed.calls.map((c) => c.id)).toEqual([call.id]);
    expect(replayed.answers.get(call.id)).toBe(result.content);
  });
});

// ---------------------------------------------------------------- 5. finish reasons

describe("finish_reason that disagrees with the content", () => {
  it('"stop" after tool calls: the tool still runs', async () => {
    const t = await turn("what is 17*23?", [{ quirks: { finishReason: "stop" } }]);
    const complete = expectCompleted(t);
    expect(t.calls.map((c) => c.arguments)).toEqual([{ expression: "17*23" }]);
    expect(t.results).toMatchObject([{ callId: t.calls[0]!.id, content: "391", isError: false }]);
    expect(textOf(t.events)).toContain("17*23 = 391.");
    expect(complete.steps).toBe(2);
    expect(complete.finishReason).toBe(FinishReason.STOP);
    const messages = await stored(t.conversationId);
    expect(messages[1]!.finishReason).toBe(FinishReason.TOOL_CALLS);
  });

  it('"tool_calls" after plain text: complete says STOP', async () => {
    const t = await turn("hello", [{ reply: { text: "Just some text." }, quirks: { finishReason: "tool_calls" } }]);
    const complete = expectCompleted(t);
    expect(t.calls).toHaveLength(0);
    expect(textOf(t.events)).toBe("Just some text.");
    expect(complete.steps).toBe(1);
    expect(complete.finishReason).toBe(FinishReason.STOP);
    expect(modelRequests()).toHaveLength(1);
    const messages = await stored(t.conversationId);
    expect(messages.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT]);
    expect(messages[1]!.finishReason).toBe(FinishReason.STOP);
  });

  it('"length": complete says LENGTH', async () => {
    const t = await turn("hello", [{ reply: { text: "This answer was cut" }, quirks: { finishReason: "length" } }]);
    const complete = expectCompleted(t);
    expect(textOf(t.events)).toBe("This answer was cut");
    expect(complete.finishReason).toBe(FinishReason.LENGTH);
    expect(complete.message?.finishReason).toBe(FinishReason.LENGTH);
    const messages = await stored(t.conversationId);
    expect(messages[1]!.finishReason).toBe(FinishReason.LENGTH);
  });

  it("the whole answer in a single delta: one chunk carrying all the text", async () => {
    const text = "The whole answer arrives in one single delta.";
    const t = await turn("hello", [{ reply: { text }, quirks: { singleDelta: true } }]);
    const complete = expectCompleted(t);
    expect(t.chunks).toEqual([text]);
    expect(complete.message?.content).toBe(text);
    expect(complete.finishReason).toBe(FinishReason.STOP);
    const messages = await stored(t.conversationId);
    expect(messages[1]!.content).toBe(text);
  });
});

// ---------------------------------------------------------------- 6. unicode

describe("text that is split inside characters", () => {
  it.each<[string, string, Scenario["quirks"]]>([
    ["multi-byte UTF-8 split across network reads", "héllo wörld — 日本語 ✓ ünïcödé", { splitUtf8: true }],
    ["a surrogate pair split across two deltas", "😀 party time 🎉 yes😀🎉 done 🎉", { splitSurrogates: true }],
    ["both at once", "ünï 😀 日本 🎉 ✓", { splitSurrogates: true, splitUtf8: true }],
  ])("%s: every chunk well-formed, the text exact", async (_name, text, quirks) => {
    const t = await turn("hello", [{ reply: { text }, quirks }]);
    const complete = expectCompleted(t);
    expect(t.chunks.length).toBeGreaterThan(1);
    for (const chunk of t.chunks) {
      expect(chunk, JSON.stringify(chunk)).not.toMatch(LONE_SURROGATE);
      expect(chunk).not.toContain("\uFFFD");
    }
    expect(t.chunks.join("")).toBe(text);
    expect(complete.message?.content).toBe(text);
    const messages = await stored(t.conversationId);
    expect(messages[1]!.content).toBe(text);
  });
});

// ---------------------------------------------------------------- 7. usage

describe("usage", () => {
  it("reported by the provider: passed through, not estimated", async () => {
    const t = await turn("hello", [{ reply: { text: "Counted answer." }, quirks: { usage: { prompt_tokens: 123, completion_tokens: 45 } } }]);
    const complete = expectCompleted(t);
    expect(complete.usage).toMatchObject({ inputTokens: 123, outputTokens: 45, totalTokens: 168, estimated: false });
    const run = await s.app.store.getRun("local", t.runId);
    expect(run?.usage).toEqual({ inputTokens: 123, outputTokens: 45, totalTokens: 168, estimated: false });
    const messages = await stored(t.conversationId);
    expect(messages[1]!.usage).toMatchObject({ inputTokens: 123, outputTokens: 45, totalTokens: 168, estimated: false });
  });

  it("counted by the simulator when not scripted: the same numbers reach the caller", async () => {
    const t = await turn("hello there, model");
    const complete = expectCompleted(t);
    const [req] = modelRequests();
    // The simulator counts words: the request's message texts in, the answer's text out.
    const input = promptTokens(req!);
    const output = tokenize(textOf(t.events)).length;
    expect(input).toBeGreaterThan(0);
    expect(complete.usage).toMatchObject({ inputTokens: input, outputTokens: output, totalTokens: input + output, estimated: false });
  });

  it("absent (omitUsage): estimated, and never 0", async () => {
    const t = await turn("hello", [{ reply: { text: "An answer without usage." }, quirks: { omitUsage: true } }]);
    const complete = expectCompleted(t);
    const u = complete.usage!;
    expect(u.estimated).toBe(true);
    expect(u.inputTokens).toBeGreaterThan(0);
    expect(u.outputTokens).toBeGreaterThan(0);
    expect(u.totalTokens).toBe(u.inputTokens + u.outputTokens);
    const run = await s.app.store.getRun("local", t.runId);
    expect(run?.usage?.estimated).toBe(true);
  });

  it("summed over every model call of a multi-step turn", async () => {
    const usage = { prompt_tokens: 10, completion_tokens: 5 };
    const t = await turn("what is 17*23?", [{ quirks: { usage } }, { quirks: { usage } }]);
    const complete = expectCompleted(t);
    expect(complete.steps).toBe(2);
    expect(modelRequests()).toHaveLength(2);
    expect(complete.usage).toMatchObject({ inputTokens: 20, outputTokens: 10, totalTokens: 30, estimated: false });
    const run = await s.app.store.getRun("local", t.runId);
    expect(run?.usage).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, estimated: false });
    // Each assistant message keeps its own call's usage.
    const assistants = (await stored(t.conversationId)).filter((m) => m.role === Role.ASSISTANT);
    expect(assistants.map((m) => [m.usage?.inputTokens, m.usage?.outputTokens])).toEqual([
      [10, 5],
      [10, 5],
    ]);
  });
});

// ---------------------------------------------------------------- 8. a tool that throws

describe("a tool that throws", () => {
  it("gives an error result, and the model is called again with it", async () => {
    const before = failRuns;
    const t = await turn("please run the fail tool", [{ reply: { toolCalls: [{ name: "fail", arguments: "{}" }] } }]);
    const complete = expectCompleted(t);
    expect(failRuns).toBe(before + 1);
    expect(t.calls).toMatchObject([{ name: "fail", arguments: {} }]);
    expect(t.results).toHaveLength(1);
    const result = t.results[0]!;
    expect(result.callId).toBe(t.calls[0]!.id);
    expect(result.isError).toBe(true);
    expect(result.content).toContain("boom");

    const reqs = modelRequests();
    expect(reqs).toHaveLength(2);
    const { calls, answers } = toolExchange(reqs[1]!.messages);
    expect(calls.map((c) => c.id)).toEqual([t.calls[0]!.id]);
    expect(answers.get(t.calls[0]!.id)).toContain("boom");

    expect(complete.steps).toBe(2);
    expect(textOf(t.events)).toContain("The fail tool failed");
    expect(textOf(t.events)).toContain("boom");
    const messages = await stored(t.conversationId);
    expect(messages.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]);
    expect(messages[2]).toMatchObject({ toolCallId: t.calls[0]!.id, isError: true });
  });
});

// ---------------------------------------------------------------- 9. cancelled while a tool ran

describe("a turn cancelled while a tool ran", () => {
  it("stores the call paired with an error result, and the next turn replays it to a strict server", async () => {
    const id = await newConversation();
    sim.enqueue({ reply: { toolCalls: [{ name: "sleepy", arguments: "{}" }] } });
    const call = s.grpc.streamMessage({ conversationId: id, content: "take a nap" });
    const { events, err } = await drainGrpc(call, (e) => {
      if (e.event.case === "toolCall") call.cancel();
    });
    const t = describeTurn(id, events, err);
    expect(err?.code).toBe(grpc.status.CANCELLED);
    expect(kinds(events)).not.toContain("complete");
    expect(t.calls).toMatchObject([{ name: "sleepy" }]);
    const callId = t.calls[0]!.id;

    const run = await eventually(async () => {
      const r = await s.app.store.getRun("local", t.runId);
      return r && r.status !== "running" ? r : null;
    }, 8000, "the run to be stored");
    expect(run.status).toBe("cancelled");
    expect(run.endReason).toBe("cancelled_by_caller");
    // The tool saw the abort rather than sleeping its ten seconds out.
    await eventually(() => sleepyEnds.includes("aborted"), 2000, "the sleepy tool to be aborted");
    expect(sleepyEnds).not.toContain("slept");

    const messages = await stored(id);
    expect(messages.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT, Role.TOOL]);
    expect(messages[1]!.toolCalls.map((c) => [c.id, c.name])).toEqual([[callId, "sleepy"]]);
    expect(messages[2]).toMatchObject({ toolCallId: callId, toolName: "sleepy", isError: true });

    sim.reset();
    const next = await turn("what is 17*23?", [], id);
    expectCompleted(next);
    expect(next.results.map((r) => r.content)).toEqual(["391"]);
    expect(textOf(next.events)).toContain("17*23 = 391.");
    const replay = modelRequests()[0]!;
    expect(replay.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "user"]);
    const { calls, answers } = toolExchange(replay.messages.slice(0, 3));
    expect(calls.map((c) => c.id)).toEqual([callId]);
    expect(answers.has(callId)).toBe(true);
  });
});
