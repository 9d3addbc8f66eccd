/**
 * The model simulator against the real `openai` SDK and LangChain's
 * ChatOpenAI: if these clients read it unmodified, it speaks the wire format,
 * and every scripted fault and quirk shows up where a real server puts it.
 */
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { ChatOpenAI } from "@langchain/openai";
import type { AIMessageChunk } from "@langchain/core/messages";
import { startSimulator, type Simulator } from "./sim/server.js";
import type { Scenario, ToolCallSpec } from "./sim/scenario.js";
import { eventually } from "./helpers/streams.js";

const MODEL = "parley-sim";
const TOOLS: ChatCompletionTool[] = ["calculator", "clock"].map((name) => ({
  type: "function",
  function: { name, description: name, parameters: { type: "object", properties: {} } },
}));
const TWO_CALLS: ToolCallSpec[] = [
  { id: "call_a", name: "calculator", arguments: '{"expression":"1+1"}' },
  { id: "call_b", name: "calculator", arguments: '{"expression":"2+2"}' },
];

let sim: Simulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSimulator({ scenarios: { slow: { pacing: { ttftMs: 150 } }, hello: { reply: { text: "hello from a named scenario" } } } });
  client = new OpenAI({ baseURL: sim.url, apiKey: "test", maxRetries: 0 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => sim.reset());

const user = (content: string): ChatCompletionMessageParam => ({ role: "user", content });

async function streamChunks(messages: ChatCompletionMessageParam[], opts: { usage?: boolean; headers?: Record<string, string>; model?: string } = {}): Promise<ChatCompletionChunk[]> {
  const stream = await client.chat.completions.create(
    { model: opts.model ?? MODEL, messages, tools: TOOLS, stream: true, ...(opts.usage === false ? {} : { stream_options: { include_usage: true } }) },
    opts.headers ? { headers: opts.headers } : {},
  );
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

/** Streams one scripted scenario and returns its chunks. */
async function scripted(s: Scenario): Promise<ChatCompletionChunk[]> {
  sim.enqueue(s);
  return await streamChunks([user("go")]);
}

const toolDeltas = (chunks: ChatCompletionChunk[]): ChatCompletionChunk.Choice.Delta.ToolCall[] => chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
const contents = (chunks: ChatCompletionChunk[]): string[] => chunks.flatMap((c) => { const t = c.choices[0]?.delta.content; return t ? [t] : []; });
const finishReason = (chunks: ChatCompletionChunk[]): string | null | undefined => chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f != null).at(-1);

async function failure(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );
}

describe("default scenario: the offline script at the wire", () => {
  it("asks for the calculator, then answers from the tool result", async () => {
    const question = "what is 17*23?";
    const first = await streamChunks([user(question)]);
    expect(first[0]?.choices[0]?.delta.role).toBe("assistant");
    const [call, ...rest] = toolDeltas(first);
    expect(rest).toEqual([]);
    expect(call).toMatchObject({ index: 0, type: "function", function: { name: "calculator", arguments: '{"expression":"17*23"}' } });
    expect(call?.id).toMatch(/^call_sim_\d+$/);
    expect(finishReason(first)).toBe("tool_calls");

    const second = await streamChunks([
      // Content as parts, as LangChain sends it for multi-part messages.
      { role: "user", content: [{ type: "text", text: question }] },
      { role: "assistant", content: null, tool_calls: [{ id: call!.id!, type: "function", function: { name: "calculator", arguments: call!.function!.arguments! } }] },
      { role: "tool", tool_call_id: call!.id!, content: "391" },
    ]);
    const text = contents(second);
    expect(text.length).toBeGreaterThan(1);
    expect(text.join("")).toBe("17*23 = 391.");
    expect(finishReason(second)).toBe("stop");
    expect(sim.stats).toMatchObject({ requests: 2, completed: 2, disconnects: 0 });
    expect(sim.stats.chunksSent).toBe(first.length + second.length);
  });

  it("streams parallel calls with their own indices and ids", async () => {
    const calls = toolDeltas(await streamChunks([user("what is 1+1 and 2+2?")]));
    expect(calls.map((c) => [c.index, c.function?.arguments])).toEqual([
      [0, '{"expression":"1+1"}'],
      [1, '{"expression":"2+2"}'],
    ]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
  });

  it("sends a usage chunk only when asked", async () => {
    const asked = await streamChunks([user("hello")]);
    const last = asked.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.prompt_tokens).toBe(1);
    expect(last.usage?.completion_tokens).toBe(contents(asked).length);
    expect(last.usage?.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);

    const unasked = await streamChunks([user("hello")], { usage: false });
    expect(unasked.every((c) => c.usage == null && c.choices.length === 1)).toBe(true);

    sim.enqueue({ quirks: { omitUsage: true } });
    expect((await streamChunks([user("hello")])).some((c) => c.usage)).toBe(false);
    sim.enqueue({ quirks: { usage: { prompt_tokens: 1000, completion_tokens: 7 } } });
    expect((await streamChunks([user("hello")])).at(-1)?.usage).toEqual({ prompt_tokens: 1000, completion_tokens: 7, total_tokens: 1007 });
  });

  it("answers without streaming", async () => {
    const res = await client.chat.completions.create({ model: MODEL, messages: [user("what is 17*23?")], tools: TOOLS });
    expect(res.object).toBe("chat.completion");
    expect(res.choices[0]?.finish_reason).toBe("tool_calls");
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === "function" && call.function).toEqual({ name: "calculator", arguments: '{"expression":"17*23"}' });
    expect(res.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("lists its models", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["parley-sim", "slow", "hello"]);
  });
});

describe("scenario selection", () => {
  it("takes the queue first, then the header, then the model, else the defaults", async () => {
    sim.enqueue({ reply: { text: "queued one" } });
    expect(contents(await streamChunks([user("x")], { headers: { "x-sim-scenario": "hello" } })).join("")).toBe("queued one");
    expect(contents(await streamChunks([user("x")], { headers: { "x-sim-scenario": "hello" } })).join("")).toBe("hello from a named scenario");
    expect(contents(await streamChunks([user("x")], { model: "hello" })).join("")).toBe("hello from a named scenario");
    expect(contents(await streamChunks([user("x")], { model: "gpt-4o-mini" })).join("")).toContain('You said: "x"');
    expect(sim.requests.map((r) => r.scenario)).toEqual(["queued", "hello", "hello", "default"]);
    expect(sim.requests[0]?.body?.messages).toEqual([user("x")]);
    expect(sim.requests[0]?.headers["x-sim-scenario"]).toBe("hello");

    const err = await failure(streamChunks([user("x")], { headers: { "x-sim-scenario": "nope" } }));
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
  });

  it("waits the time to first token", async () => {
    const started = Date.now();
    const stream = await client.chat.completions.create({ model: "slow", messages: [user("hi")], stream: true });
    for await (const _ of stream) break;
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // Let the response settle so it cannot land in the next test's counters.
    await eventually(() => sim.stats.completed + sim.stats.disconnects === 1, 2000, "the response to end");
  });
});

describe("faults", () => {
  it("a 429 with Retry-After arrives as the SDK's APIError", async () => {
    sim.enqueue({ fault: { kind: "status", status: 429, retryAfter: "7", message: "slow down" } });
    const err = await failure(streamChunks([user("hi")]));
    expect(err).toBeInstanceOf(APIError);
    const e = err as APIError;
    expect(e.status).toBe(429);
    expect(e.headers?.get("retry-after")).toBe("7");
    expect(e.message).toContain("slow down");
    expect(e.code).toBe("rate_limit_exceeded");
    expect(sim.stats.completed).toBe(0);
  });

  it("a reset after N chunks makes the SDK stream throw after those chunks", async () => {
    sim.enqueue({ fault: { kind: "reset", afterChunks: 3 } });
    const got: ChatCompletionChunk[] = [];
    const stream = await client.chat.completions.create({ model: MODEL, messages: [user("count to 50")], stream: true });
    await expect(
      (async () => {
        for await (const c of stream) got.push(c);
      })(),
    ).rejects.toThrow();
    expect(got).toHaveLength(3);
    expect(sim.stats).toMatchObject({ chunksSent: 3, disconnects: 0, completed: 0 });
  });

  it("a reset before the headers is a connection error", async () => {
    sim.enqueue({ fault: { kind: "reset", afterChunks: 0 } });
    expect(await failure(streamChunks([user("hi")]))).toBeInstanceOf(APIConnectionError);
  });

  it("a malformed chunk makes the SDK stream throw", async () => {
    sim.enqueue({ fault: { kind: "malformed", afterChunks: 2 } });
    await expect(streamChunks([user("count to 50")])).rejects.toThrow();
  });

  it("a stall holds the stream until the client aborts, then counts the disconnect and writes no more", async () => {
    sim.enqueue({ fault: { kind: "stall", afterChunks: 2 } });
    const ac = new AbortController();
    const stream = await client.chat.completions.create({ model: MODEL, messages: [user("count to 50")], stream: true }, { signal: ac.signal });
    const got: ChatCompletionChunk[] = [];
    const reading = (async () => {
      for await (const c of stream) got.push(c);
    })();
    await eventually(() => got.length === 2, 2000, "two chunks");
    await sleep(50);
    expect(got).toHaveLength(2);
    ac.abort();
    // The SDK ends an aborted stream's iteration quietly; whether it throws is not what is tested here.
    await reading.catch(() => undefined);
    await eventually(() => sim.stats.disconnects === 1, 2000, "the disconnect");
    await sleep(50);
    expect(sim.stats).toMatchObject({ chunksSent: 2, disconnects: 1, completed: 0 });
  });

  it("a stall before the headers leaves create() pending until the abort", async () => {
    sim.enqueue({ fault: { kind: "stall", afterChunks: 0 } });
    const ac = new AbortController();
    const pending = client.chat.completions.create({ model: MODEL, messages: [user("hi")], stream: true }, { signal: ac.signal });
    await eventually(() => sim.stats.requests === 1, 2000, "the request");
    await sleep(50);
    ac.abort();
    expect(await failure(pending)).toBeInstanceOf(APIUserAbortError);
    await eventually(() => sim.stats.disconnects === 1, 2000, "the disconnect");
    expect(sim.stats.chunksSent).toBe(0);
  });

  it("stops generating as soon as the client leaves mid-answer", async () => {
    sim.enqueue({ pacing: { tokenDelayMs: 2 } });
    const stream = await client.chat.completions.create({ model: MODEL, messages: [user("count to 5000")], stream: true });
    let seen = 0;
    for await (const _ of stream) if (++seen === 5) break;
    await eventually(() => sim.stats.disconnects === 1, 2000, "the disconnect");
    const sent = sim.stats.chunksSent;
    await sleep(100);
    expect(sim.stats.chunksSent).toBe(sent);
    expect(sent).toBeLessThan(100);
  });
});

describe("quirks", () => {
  it("argsFragmentSize splits arguments over many deltas that concatenate to the JSON", async () => {
    const args = '{"expression":"17*23"}';
    const deltas = toolDeltas(await scripted({ reply: { toolCalls: [{ name: "calculator", arguments: args }] }, quirks: { argsFragmentSize: 3 } }));
    expect(deltas).toHaveLength(1 + Math.ceil(args.length / 3));
    expect(deltas[0]?.function).toEqual({ name: "calculator", arguments: "" });
    expect(deltas.map((d) => d.function?.arguments ?? "").join("")).toBe(args);
    expect(deltas.slice(1).every((d) => d.function?.name === undefined && (d.function?.arguments?.length ?? 0) <= 3)).toBe(true);
  });

  it("reuseIndexZero gives every call index 0 under its own id", async () => {
    const deltas = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { reuseIndexZero: true, argsFragmentSize: 5 } }));
    expect(deltas.every((d) => d.index === 0)).toBe(true);
    expect([...new Set(deltas.map((d) => d.id))]).toEqual(["call_a", "call_b"]);
  });

  it("omitIndex drops the index field", async () => {
    const deltas = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { omitIndex: true } }));
    expect(deltas).toHaveLength(2);
    expect(deltas.some((d) => "index" in d)).toBe(false);
  });

  it("omitIdAfterFirst puts the id on a call's first delta only; omitIdEntirely on none", async () => {
    const after = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { argsFragmentSize: 4, omitIdAfterFirst: true } }));
    expect(after.length).toBeGreaterThan(4);
    expect(after.filter((d) => d.function?.name !== undefined).every((d) => d.id !== undefined)).toBe(true);
    expect(after.filter((d) => d.function?.name === undefined).some((d) => "id" in d)).toBe(false);
    // Without the quirk every fragment repeats its call's id.
    const repeated = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { argsFragmentSize: 4 } }));
    expect(repeated.every((d) => d.id !== undefined)).toBe(true);

    const none = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { omitIdEntirely: true } }));
    expect(none.some((d) => "id" in d)).toBe(false);
  });

  it("omitArguments, raw invalid arguments and finishReason reach the client as written", async () => {
    const omitted = toolDeltas(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { omitArguments: true } }));
    expect(omitted.map((d) => d.function)).toEqual([{ name: "calculator" }, { name: "calculator" }]);
    const raw = toolDeltas(await scripted({ reply: { toolCalls: [{ name: "calculator", arguments: '{"expression":' }, { name: "clock", arguments: "" }] } }));
    expect(raw.map((d) => d.function?.arguments)).toEqual(['{"expression":', ""]);
    expect(finishReason(await scripted({ reply: { toolCalls: TWO_CALLS }, quirks: { finishReason: "stop" } }))).toBe("stop");
    expect(finishReason(await scripted({ reply: { text: "cut off" }, quirks: { finishReason: "length" } }))).toBe("length");
  });

  it("singleDelta sends the whole text at once", async () => {
    expect(contents(await scripted({ reply: { text: "one two three" }, quirks: { singleDelta: true } }))).toEqual(["one two three"]);
  });

  it("splitSurrogates puts each half of an astral character in its own delta", async () => {
    const text = "smile 😀 please";
    const parts = contents(await scripted({ reply: { text }, quirks: { splitSurrogates: true } }));
    expect(parts.join("")).toBe(text);
    const k = parts.findIndex((p) => p.endsWith("\ud83d"));
    expect(k).toBeGreaterThanOrEqual(0);
    expect(parts[k + 1]?.startsWith("\ude00")).toBe(true);
  });

  it("splitUtf8 still decodes to the exact text in the SDK", async () => {
    const text = "Grüße aus 東京 😀 — naïve café";
    expect(contents(await scripted({ reply: { text }, quirks: { splitUtf8: true } })).join("")).toBe(text);
  });

  it("splitUtf8 really cuts inside a character on the wire", async () => {
    sim.enqueue({ reply: { text: "Grüße 東京" }, quirks: { splitUtf8: true } });
    const pieces = await new Promise<Buffer[]>((resolve, reject) => {
      const body = JSON.stringify({ model: MODEL, messages: [user("x")], stream: true });
      const req = request(`${sim.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        const got: Buffer[] = [];
        res.on("data", (b: Buffer) => got.push(b));
        res.on("end", () => resolve(got));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
    const strict = new TextDecoder("utf-8", { fatal: true });
    const broken = pieces.filter((p) => {
      try {
        strict.decode(p);
        return false;
      } catch {
        return true;
      }
    });
    expect(broken.length).toBeGreaterThan(0);
    expect(Buffer.concat(pieces).toString("utf8")).toContain("data: [DONE]");
  });
});

describe("strict history checks", () => {
  const call = { id: "call_1", type: "function" as const, function: { name: "calculator", arguments: "{}" } };

  it("rejects a tool call that no tool message answers, as the real API does", async () => {
    const err = await failure(streamChunks([user("what is 1+1?"), { role: "assistant", content: null, tool_calls: [call] }, user("well?")]));
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).message).toContain("must be followed by tool messages responding to each 'tool_call_id'");
    expect((err as APIError).message).toContain("call_1");
  });

  it("rejects a tool message that answers an unknown id", async () => {
    const err = await failure(streamChunks([user("hi"), { role: "tool", tool_call_id: "call_x", content: "1" }]));
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).message).toContain("must be a response to a preceeding message with 'tool_calls'");
  });

  it("accepts the same history when not strict", async () => {
    const lenient = await startSimulator({ strict: false });
    try {
      const c = new OpenAI({ baseURL: lenient.url, apiKey: "test", maxRetries: 0 });
      const res = await c.chat.completions.create({ model: MODEL, messages: [user("hi"), { role: "assistant", content: null, tool_calls: [call] }, user("well?")] });
      expect(res.choices[0]?.message.content).toContain('You said: "well?"');
    } finally {
      await lenient.close();
    }
  });
});

describe("LangChain ChatOpenAI", () => {
  const chat = (): ChatOpenAI => new ChatOpenAI({ model: MODEL, apiKey: "test", configuration: { baseURL: sim.url }, maxRetries: 0, streamUsage: true });

  async function concat(stream: AsyncIterable<AIMessageChunk>): Promise<AIMessageChunk> {
    let acc: AIMessageChunk | undefined;
    for await (const c of stream) acc = acc ? acc.concat(c) : c;
    if (!acc) throw new Error("empty stream");
    return acc;
  }

  it("streams the default answer with usage", async () => {
    const msg = await concat(await chat().stream("hello"));
    expect(msg.content).toContain('You said: "hello"');
    expect(msg.usage_metadata?.input_tokens).toBe(1);
    expect(msg.usage_metadata?.output_tokens).toBeGreaterThan(5);
    expect(sim.requests[0]?.body?.stream_options).toEqual({ include_usage: true });
  });

  it("reads parallel fragmented tool calls", async () => {
    sim.enqueue({ quirks: { argsFragmentSize: 3 } });
    const msg = await concat(await chat().bindTools(TOOLS).stream("what is 1+1 and 2+2?"));
    expect(msg.tool_calls?.map((c) => c.args)).toEqual([{ expression: "1+1" }, { expression: "2+2" }]);
    expect(msg.invalid_tool_calls).toEqual([]);
  });
});
