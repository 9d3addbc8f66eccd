/**
 * End-to-end tests of ConversationService against the real app (SQLite in a
 * temp dir, offline model), over grpc-js and Connect.
 */
import { randomUUID } from "node:crypto";
import { equals, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ConversationSchema, Role, type Conversation, type Message } from "../gen/parley/v1/conversation_pb.js";
import type { RunEvent } from "../gen/parley/v1/events_pb.js";
import type {
  ConversationService,
  ListConversationsRequestSchema,
  ListMessagesRequestSchema,
  StreamMessageRequestSchema,
  StreamMessageResponse,
} from "../gen/parley/v1/conversation_service_pb.js";
import type { Client } from "@connectrpc/connect";
import { bearer, grpc, startTestServer, unary, type TestServer } from "./helpers/server.js";
import { detailsOf, type Details } from "./helpers/errors.js";

// ---------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------

const ALPHA = "alpha-key-123";
const BETA = "beta-key-456";
const TWO_TENANTS = { PARLEY_API_KEYS: `${ALPHA}=alpha,${BETA}=beta` };

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type ConversationInit = MessageInitShape<typeof ConversationSchema>;
type StreamRequest = MessageInitShape<typeof StreamMessageRequestSchema>;
type ListConversationsRequest = MessageInitShape<typeof ListConversationsRequestSchema>;
type ListMessagesRequest = MessageInitShape<typeof ListMessagesRequestSchema>;

type ErrorDetails = Details;

/** The shared decoder, plus the check that the trailer's Status agrees with the call's code. */
function grpcDetails(err: grpc.ServiceError): ErrorDetails {
  const d = detailsOf(err);
  if (d.statusCode !== undefined) expect(d.statusCode).toBe(err.code);
  return d;
}

/** Asserts a grpc-js error has `code` (and, for INVALID_ARGUMENT, names `field`); returns its details. */
function expectGrpcError(err: grpc.ServiceError | null | undefined, code: grpc.status, field?: string | RegExp): ErrorDetails {
  expect(err, `expected ${grpc.status[code]}`).toBeTruthy();
  const e = err as grpc.ServiceError;
  expect(grpc.status[e.code]).toBe(grpc.status[code]);
  const d = grpcDetails(e);
  expect(d.errorInfo?.domain).toBe("parley");
  if (code === grpc.status.INVALID_ARGUMENT) {
    expect(d.errorInfo?.reason).toBe("INVALID_ARGUMENT");
    expect(d.badRequest?.fieldViolations.length ?? 0).toBeGreaterThan(0);
  }
  if (field !== undefined) {
    const fields = d.badRequest?.fieldViolations.map((v) => v.field) ?? [];
    if (typeof field === "string") {
      expect(fields).toContain(field);
      expect(e.details).toContain(field);
    } else {
      const matched = fields.find((f) => field.test(f));
      expect(matched, `a field violation in ${JSON.stringify(fields)} matches ${field}`).toBeDefined();
      expect(e.details).toContain(matched);
    }
  }
  return d;
}

function expectConnectError(e: unknown, code: Code, field?: string): ConnectError {
  expect(e, `expected ${Code[code]}`).toBeInstanceOf(ConnectError);
  const ce = ConnectError.from(e);
  expect(Code[ce.code]).toBe(Code[code]);
  const [info] = ce.findDetails(ErrorInfoSchema);
  expect(info?.domain).toBe("parley");
  if (field !== undefined) {
    const [br] = ce.findDetails(BadRequestSchema);
    expect(br?.fieldViolations.map((v) => v.field)).toContain(field);
    expect(ce.rawMessage).toContain(field);
  }
  return ce;
}

/** Resolves with what a Connect call threw (or fails when it did not throw). */
async function connectFailure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to fail");
}

interface Collected {
  events: RunEvent[];
  err: grpc.ServiceError | null;
}

/** Drains a grpc-js server stream; a non-OK status is returned, not thrown. */
function collect(stream: grpc.ClientReadableStream<StreamMessageResponse>): Promise<Collected> {
  return new Promise((resolve) => {
    const events: RunEvent[] = [];
    let err: grpc.ServiceError | null = null;
    stream.on("data", (r: StreamMessageResponse) => {
      if (r.event) events.push(r.event);
    });
    stream.on("error", (e: grpc.ServiceError) => (err = e));
    // 'status' can precede the last 'data'/'error'; let them land first.
    stream.on("status", () => setImmediate(() => resolve({ events, err })));
  });
}

/** The stream's first event. */
function firstEvent(stream: grpc.ClientReadableStream<StreamMessageResponse>): Promise<RunEvent> {
  return new Promise((resolve, reject) => {
    stream.once("data", (r: StreamMessageResponse) => (r.event ? resolve(r.event) : reject(new Error("response without event"))));
    stream.once("error", reject);
  });
}

/** Drains a Connect server stream into events and the error it ended with. */
async function collectConnect(iterable: AsyncIterable<StreamMessageResponse>): Promise<{ events: RunEvent[]; err: unknown }> {
  const events: RunEvent[] = [];
  try {
    for await (const r of iterable) if (r.event) events.push(r.event);
  } catch (err) {
    return { events, err };
  }
  return { events, err: undefined };
}

/** Asserts a run's stream: started first, complete last, seq 1..n without gaps; returns the final text. */
function expectCompletedRun(c: Collected, conversationId: string): string {
  expect(c.err).toBeNull();
  const sequenced = c.events.filter((e) => e.event.case !== "heartbeat");
  expect(sequenced.length).toBeGreaterThanOrEqual(2);
  expect(sequenced.map((e) => e.seq)).toEqual(sequenced.map((_, i) => i + 1));
  const first = sequenced[0]!;
  const last = sequenced[sequenced.length - 1]!;
  expect(first.event.case).toBe("started");
  if (first.event.case === "started") expect(first.event.value.conversationId).toBe(conversationId);
  expect(last.event.case).toBe("complete");
  expect(new Set(c.events.map((e) => e.runId)).size).toBe(1);
  return last.event.case === "complete" ? (last.event.value.message?.content ?? "") : "";
}

/** A grpc-js view of the service as one caller (`key` undefined: no authorization header). */
function caller(s: TestServer, key?: string) {
  const md = () => (key === undefined ? new grpc.Metadata() : bearer(key));
  const c = s.grpc;
  return {
    create: (conversation: ConversationInit = {}) => unary(c.createConversation.bind(c), { conversation }, md()),
    get: (id: string) => unary(c.getConversation.bind(c), { id }, md()),
    list: (req: ListConversationsRequest = {}) => unary(c.listConversations.bind(c), req, md()),
    del: (id: string) => unary(c.deleteConversation.bind(c), { id }, md()),
    messages: (req: ListMessagesRequest) => unary(c.listMessages.bind(c), req, md()),
    stream: (req: StreamRequest) => c.streamMessage(req, md()),
    turn: (req: StreamRequest) => collect(c.streamMessage(req, md())),
    /** Creates a conversation and returns it; fails the test on error. */
    async conversation(init: ConversationInit = {}): Promise<Conversation> {
      const { err, res } = await unary(c.createConversation.bind(c), { conversation: init }, md());
      expect(err).toBeNull();
      expect(res?.conversation).toBeDefined();
      return res!.conversation!;
    },
    /** Every message of a conversation, oldest first; fails the test on error. */
    async allMessages(conversationId: string): Promise<Message[]> {
      const { err, res } = await unary(c.listMessages.bind(c), { conversationId, pageSize: 1000 }, md());
      expect(err).toBeNull();
      return res!.messages;
    },
  };
}

const connectAuth = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

function startServer(env: Record<string, string>): { server: () => TestServer } {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await startTestServer(env);
  });
  afterAll(async () => {
    await s?.close(true);
  });
  return {
    server: () => {
      if (!s) throw new Error("server not started");
      return s;
    },
  };
}

// ---------------------------------------------------------------------------
// CRUD
// ---------------------------------------------------------------------------

describe("CreateConversation and GetConversation", () => {
  const { server } = startServer(TWO_TENANTS);
  const init: ConversationInit = { title: "Trip planning", systemPrompt: "Be brief.", metadata: { team: "core", "trace.id": "x-1" } };

  function expectFresh(c: Conversation | undefined): void {
    expect(c).toBeDefined();
    expect(c!.id).toMatch(UUID_V7);
    expect(c!.title).toBe("Trip planning");
    expect(c!.systemPrompt).toBe("Be brief.");
    expect(c!.metadata).toEqual({ team: "core", "trace.id": "x-1" });
    expect(c!.messageCount).toBe(0);
    expect(c!.createTime).toBeDefined();
    expect(c!.updateTime).toBeDefined();
    const created = Number(c!.createTime!.seconds);
    expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(60);
    expect(Number(c!.updateTime!.seconds)).toBeGreaterThanOrEqual(created);
  }

  it("creates and reads back a conversation over grpc-js", async () => {
    const alpha = caller(server(), ALPHA);
    const { err, res } = await alpha.create({ ...init, messageCount: 99, id: "ignored" });
    expect(err).toBeNull();
    expectFresh(res?.conversation);
    const got = await alpha.get(res!.conversation!.id);
    expect(got.err).toBeNull();
    expect(equals(ConversationSchema, got.res!.conversation!, res!.conversation!)).toBe(true);
  });

  it("creates and reads back a conversation over Connect", async () => {
    const client: Client<typeof ConversationService> = server().connect;
    const res = await client.createConversation({ conversation: init }, connectAuth(ALPHA));
    expectFresh(res.conversation);
    const got = await client.getConversation({ id: res.conversation!.id }, connectAuth(ALPHA));
    expect(equals(ConversationSchema, got.conversation!, res.conversation!)).toBe(true);
    // The same conversation over grpc-js.
    const viaGrpc = await caller(server(), ALPHA).get(res.conversation!.id);
    expect(equals(ConversationSchema, viaGrpc.res!.conversation!, res.conversation!)).toBe(true);
  });

  it("reads the same conversation back over gRPC-Web", async () => {
    const made = await caller(server(), ALPHA).conversation(init);
    const got = await server().grpcWeb.getConversation({ id: made.id }, connectAuth(ALPHA));
    expect(equals(ConversationSchema, got.conversation!, made)).toBe(true);
  });

  it("gives every conversation its own id", async () => {
    const alpha = caller(server(), ALPHA);
    const a = await alpha.conversation();
    const b = await alpha.conversation();
    expect(a.id).not.toBe(b.id);
  });
});

describe("ListConversations paging", () => {
  const { server } = startServer(TWO_TENANTS);
  const created: string[] = [];

  beforeAll(async () => {
    const alpha = caller(server(), ALPHA);
    for (let i = 0; i < 7; i++) created.push((await alpha.conversation({ title: `c${i}` })).id);
  });

  it("pages 7 conversations 3, 3, 1, newest first, each exactly once", async () => {
    const alpha = caller(server(), ALPHA);
    const sizes: number[] = [];
    const ids: string[] = [];
    let token = "";
    for (let page = 0; page < 10; page++) {
      const { err, res } = await alpha.list({ pageSize: 3, pageToken: token });
      expect(err).toBeNull();
      sizes.push(res!.conversations.length);
      ids.push(...res!.conversations.map((c) => c.id));
      token = res!.nextPageToken;
      if (token === "") break;
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(token).toBe("");
    expect(ids).toEqual([...created].reverse());
    expect(new Set(ids).size).toBe(7);
  });

  it("uses the default page size (50) for page_size 0", async () => {
    // Beta is empty on this server: fill it past one default page.
    const beta = caller(server(), BETA);
    const mine: string[] = [];
    for (let i = 0; i < 51; i++) mine.push((await beta.conversation()).id);
    const first = await beta.list({ pageSize: 0 });
    expect(first.err).toBeNull();
    expect(first.res!.conversations).toHaveLength(50);
    expect(first.res!.nextPageToken).not.toBe("");
    const second = await beta.list({ pageToken: first.res!.nextPageToken });
    expect(second.err).toBeNull();
    expect(second.res!.conversations.map((c) => c.id)).toEqual([mine[0]]);
    expect(second.res!.nextPageToken).toBe("");
  });

  it("refuses page_size 1001", async () => {
    const { err } = await caller(server(), ALPHA).list({ pageSize: 1001 });
    expectGrpcError(err, grpc.status.INVALID_ARGUMENT, "page_size");
  });

  it("refuses a garbage page_token", async () => {
    const alpha = caller(server(), ALPHA);
    for (const pageToken of ["garbage!", "bm90IGpzb24", Buffer.from(JSON.stringify({ v: 1, s: "conversations", a: "nope" })).toString("base64url")]) {
      const { err } = await alpha.list({ pageSize: 3, pageToken });
      expectGrpcError(err, grpc.status.INVALID_ARGUMENT, "page_token");
    }
  });

  it("refuses a ListMessages token on ListConversations", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();
    expectCompletedRun(await alpha.turn({ conversationId: conv.id, content: "hello" }), conv.id);
    const msgs = await alpha.messages({ conversationId: conv.id, pageSize: 1 });
    expect(msgs.err).toBeNull();
    const token = msgs.res!.nextPageToken;
    expect(token).not.toBe("");
    const { err } = await alpha.list({ pageSize: 3, pageToken: token });
    expectGrpcError(err, grpc.status.INVALID_ARGUMENT, "page_token");
  });
});

describe("ListMessages, DeleteConversation and request_id", () => {
  const { server } = startServer(TWO_TENANTS);

  it("lists a turn's messages user then assistant, oldest first, and pages them one by one", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();
    const text = expectCompletedRun(await alpha.turn({ conversationId: conv.id, content: "hello" }), conv.id);
    expect(text).not.toBe("");

    const all = await alpha.allMessages(conv.id);
    expect(all.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT]);
    expect(all[0]!.content).toBe("hello");
    expect(all[1]!.content).toBe(text);
    expect(all.every((m) => m.conversationId === conv.id)).toBe(true);
    expect(all[0]!.runId).toBe(all[1]!.runId);

    const walked: string[] = [];
    let token = "";
    for (let page = 0; page < 10; page++) {
      const { err, res } = await alpha.messages({ conversationId: conv.id, pageSize: 1, pageToken: token });
      expect(err).toBeNull();
      expect(res!.messages.length).toBeLessThanOrEqual(1);
      walked.push(...res!.messages.map((m) => m.id));
      token = res!.nextPageToken;
      if (token === "") break;
    }
    expect(token).toBe("");
    expect(walked).toEqual(all.map((m) => m.id));

    const got = await alpha.get(conv.id);
    expect(got.res!.conversation!.messageCount).toBe(2);
  });

  it("answers NOT_FOUND for an unknown conversation", async () => {
    const { err } = await caller(server(), ALPHA).messages({ conversationId: randomUUID() });
    expectGrpcError(err, grpc.status.NOT_FOUND);
  });

  it("refuses a page token from another conversation", async () => {
    const alpha = caller(server(), ALPHA);
    const a = await alpha.conversation();
    const b = await alpha.conversation();
    expectCompletedRun(await alpha.turn({ conversationId: a.id, content: "hello" }), a.id);
    const page = await alpha.messages({ conversationId: a.id, pageSize: 1 });
    expect(page.res!.nextPageToken).not.toBe("");
    const { err } = await alpha.messages({ conversationId: b.id, pageSize: 1, pageToken: page.res!.nextPageToken });
    expectGrpcError(err, grpc.status.INVALID_ARGUMENT, "page_token");
  });

  it("deletes a conversation: Get and a second Delete answer NOT_FOUND", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();
    expectCompletedRun(await alpha.turn({ conversationId: conv.id, content: "hello" }), conv.id);
    const del = await alpha.del(conv.id);
    expect(del.err).toBeNull();
    expectGrpcError((await alpha.get(conv.id)).err, grpc.status.NOT_FOUND);
    expectGrpcError((await alpha.del(conv.id)).err, grpc.status.NOT_FOUND);
    expectGrpcError((await alpha.messages({ conversationId: conv.id })).err, grpc.status.NOT_FOUND);
    const listed = await alpha.list({ pageSize: 1000 });
    expect(listed.res!.conversations.map((c) => c.id)).not.toContain(conv.id);
  });

  it("answers ALREADY_EXISTS for a second StreamMessage with the same request_id, with no events", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();
    const first = await alpha.turn({ conversationId: conv.id, content: "hello", requestId: "req-1:a.b_c" });
    expectCompletedRun(first, conv.id);
    const again = await alpha.turn({ conversationId: conv.id, content: "hello again", requestId: "req-1:a.b_c" });
    expect(again.events).toEqual([]);
    const d = expectGrpcError(again.err, grpc.status.ALREADY_EXISTS);
    expect(d.errorInfo?.reason).toBe("DUPLICATE_REQUEST");
    expect(d.errorInfo?.metadata["run_id"]).toBe(first.events[0]!.runId);
    // Nothing of the refused request was stored.
    const msgs = await alpha.allMessages(conv.id);
    expect(msgs.map((m) => m.content)).not.toContain("hello again");
    expect(msgs).toHaveLength(2);
    // The key is scoped to the conversation: another conversation may use it.
    const other = await alpha.conversation();
    expectCompletedRun(await alpha.turn({ conversationId: other.id, content: "hello", requestId: "req-1:a.b_c" }), other.id);
  });
});

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

describe("INVALID_ARGUMENT", () => {
  const { server } = startServer(TWO_TENANTS);
  let convId = "";

  beforeAll(async () => {
    const alpha = caller(server(), ALPHA);
    convId = (await alpha.conversation({ title: "validation" })).id;
    expectCompletedRun(await alpha.turn({ conversationId: convId, content: "hello" }), convId);
  });

  it.each(["not-a-uuid", "", "123e4567-e89b-12d3-a456-42661417400"])("refuses id %j on Get and Delete", async (id) => {
    const alpha = caller(server(), ALPHA);
    expectGrpcError((await alpha.get(id)).err, grpc.status.INVALID_ARGUMENT, "id");
    expectGrpcError((await alpha.del(id)).err, grpc.status.INVALID_ARGUMENT, "id");
  });

  it("refuses a non-UUID conversation_id on ListMessages and StreamMessage", async () => {
    const alpha = caller(server(), ALPHA);
    expectGrpcError((await alpha.messages({ conversationId: "nope" })).err, grpc.status.INVALID_ARGUMENT, "conversation_id");
    const streamed = await alpha.turn({ conversationId: "nope", content: "hello" });
    expect(streamed.events).toEqual([]);
    expectGrpcError(streamed.err, grpc.status.INVALID_ARGUMENT, "conversation_id");
  });

  it("refuses a non-UUID id over Connect with BadRequest details", async () => {
    const client = server().connect;
    expectConnectError(await connectFailure(client.getConversation({ id: "nope" }, connectAuth(ALPHA))), Code.InvalidArgument, "id");
    const streamed = await collectConnect(client.streamMessage({ conversationId: "nope", content: "hello" }, connectAuth(ALPHA)));
    expect(streamed.events).toEqual([]);
    expectConnectError(streamed.err, Code.InvalidArgument, "conversation_id");
  });

  // StreamMessage requests refused before the run starts: the stream ends with the status and no events.
  const streamCases: Array<{ name: string; req: (id: string) => StreamRequest; field: string | RegExp }> = [
    { name: "empty content", req: (id) => ({ conversationId: id, content: "" }), field: "content" },
    { name: "whitespace-only content", req: (id) => ({ conversationId: id, content: " \t\n  " }), field: "content" },
    { name: "content of 32,001 characters", req: (id) => ({ conversationId: id, content: "a".repeat(32_001) }), field: "content" },
    { name: "temperature 3", req: (id) => ({ conversationId: id, content: "hello", options: { temperature: 3 } }), field: "options.temperature" },
    {
      name: "an unknown tool in allowed_tools",
      req: (id) => ({ conversationId: id, content: "hello", options: { allowedTools: ["calculator", "teleporter"] } }),
      field: "options.allowed_tools[1]",
    },
    { name: "a model not in the allowed list", req: (id) => ({ conversationId: id, content: "hello", options: { model: "gpt-9-ultra" } }), field: "options.model" },
    { name: "a request_id with a space", req: (id) => ({ conversationId: id, content: "hello", requestId: "a b" }), field: "request_id" },
  ];

  it.each(streamCases)("refuses StreamMessage with $name, with no events", async ({ req, field }) => {
    const streamed = await caller(server(), ALPHA).turn(req(convId));
    expect(streamed.events).toEqual([]);
    expectGrpcError(streamed.err, grpc.status.INVALID_ARGUMENT, field);
  });

  it("reports the not-blank rule for whitespace-only content", async () => {
    const streamed = await caller(server(), ALPHA).turn({ conversationId: convId, content: "   " });
    const d = expectGrpcError(streamed.err, grpc.status.INVALID_ARGUMENT, "content");
    expect(d.badRequest?.fieldViolations.map((v) => v.reason)).toContain("content.not_blank");
  });

  it("accepts content of exactly 32,000 characters (boundary)", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();
    expectCompletedRun(await alpha.turn({ conversationId: conv.id, content: "a".repeat(32_000) }), conv.id);
  });

  const createCases: Array<{ name: string; conversation: ConversationInit; field: string | RegExp }> = [
    { name: "a metadata key with a space", conversation: { metadata: { "bad key": "v" } }, field: 'conversation.metadata["bad key"]' },
    { name: "a title of 201 characters", conversation: { title: "t".repeat(201) }, field: "conversation.title" },
    { name: "a model not in the allowed list", conversation: { model: "gpt-9-ultra" }, field: "conversation.model" },
  ];

  it.each(createCases)("refuses CreateConversation with $name", async ({ conversation, field }) => {
    const alpha = caller(server(), ALPHA);
    const before = (await alpha.list({ pageSize: 1000 })).res!.conversations.length;
    expectGrpcError((await alpha.create(conversation)).err, grpc.status.INVALID_ARGUMENT, field);
    expect((await alpha.list({ pageSize: 1000 })).res!.conversations).toHaveLength(before);
  });

  it("refuses CreateConversation without a conversation", async () => {
    const { err } = await unary(server().grpc.createConversation.bind(server().grpc), {}, bearer(ALPHA));
    expectGrpcError(err, grpc.status.INVALID_ARGUMENT, "conversation");
  });

  it("accepts a title of exactly 200 characters (boundary)", async () => {
    const c = await caller(server(), ALPHA).conversation({ title: "t".repeat(200) });
    expect(c.title).toHaveLength(200);
  });

  it("refuses a metadata key with a space over Connect", async () => {
    const e = await connectFailure(server().connect.createConversation({ conversation: { metadata: { "bad key": "v" } } }, connectAuth(ALPHA)));
    const ce = expectConnectError(e, Code.InvalidArgument);
    const [br] = ce.findDetails(BadRequestSchema);
    expect(br?.fieldViolations.some((v) => v.field.startsWith("conversation.metadata"))).toBe(true);
  });

  it("stores nothing for refused requests: only the messages of turns that ran", async () => {
    const alpha = caller(server(), ALPHA);
    // Re-issue every refused StreamMessage so this test stands on its own.
    for (const { req } of streamCases) {
      const r = await alpha.turn(req(convId));
      expect(r.events).toEqual([]);
      expect(r.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    const msgs = await alpha.allMessages(convId);
    expect(msgs.map((m) => [m.role, m.role === Role.USER ? m.content : "…"])).toEqual([
      [Role.USER, "hello"],
      [Role.ASSISTANT, "…"],
    ]);
    const got = await alpha.get(convId);
    expect(got.res!.conversation!.messageCount).toBe(2);
    expect(got.res!.conversation!.title).toBe("validation");
    // And the conversation still takes turns.
    expectCompletedRun(await alpha.turn({ conversationId: convId, content: "hello" }), convId);
    expect(await alpha.allMessages(convId)).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------
// Tenancy and NOT_FOUND
// ---------------------------------------------------------------------------

describe("NOT_FOUND and tenant isolation", () => {
  const { server } = startServer(TWO_TENANTS);
  let alphaConv: Conversation;

  beforeAll(async () => {
    const alpha = caller(server(), ALPHA);
    alphaConv = await alpha.conversation({ title: "alpha's secret" });
    expectCompletedRun(await alpha.turn({ conversationId: alphaConv.id, content: "hello" }), alphaConv.id);
  });

  async function expectNotFoundEverywhere(key: string, id: string): Promise<void> {
    const who = caller(server(), key);
    expectGrpcError((await who.get(id)).err, grpc.status.NOT_FOUND);
    expectGrpcError((await who.del(id)).err, grpc.status.NOT_FOUND);
    expectGrpcError((await who.messages({ conversationId: id })).err, grpc.status.NOT_FOUND);
    const streamed = await who.turn({ conversationId: id, content: "hello" });
    expect(streamed.events).toEqual([]);
    const d = expectGrpcError(streamed.err, grpc.status.NOT_FOUND);
    expect(d.errorInfo?.reason).toBe("NOT_FOUND");
  }

  it("answers NOT_FOUND for an unknown conversation on every RPC", async () => {
    await expectNotFoundEverywhere(ALPHA, randomUUID());
  });

  it("answers NOT_FOUND to beta for alpha's conversation on every RPC", async () => {
    await expectNotFoundEverywhere(BETA, alphaConv.id);
  });

  it("answers NOT_FOUND to beta over Connect too", async () => {
    const e = await connectFailure(server().connect.getConversation({ id: alphaConv.id }, connectAuth(BETA)));
    expectConnectError(e, Code.NotFound);
  });

  it("leaves alpha's conversation untouched by beta's attempts", async () => {
    const alpha = caller(server(), ALPHA);
    const got = await alpha.get(alphaConv.id);
    expect(got.err).toBeNull();
    expect(got.res!.conversation!.messageCount).toBe(2);
    expect((await alpha.allMessages(alphaConv.id)).map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT]);
  });

  it("does not list alpha's conversations to beta", async () => {
    const beta = caller(server(), BETA);
    const betaConv = await beta.conversation();
    const listed = await beta.list({ pageSize: 1000 });
    expect(listed.err).toBeNull();
    const ids = listed.res!.conversations.map((c) => c.id);
    expect(ids).toEqual([betaConv.id]);
    const alphaIds = (await caller(server(), ALPHA).list({ pageSize: 1000 })).res!.conversations.map((c) => c.id);
    expect(alphaIds).toContain(alphaConv.id);
    expect(alphaIds).not.toContain(betaConv.id);
  });
});

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

describe("UNAUTHENTICATED", () => {
  const { server } = startServer(TWO_TENANTS);
  const WRONG = "wrong-key-999-abcdef";

  const headerCases: Array<{ name: string; header: string | undefined; secret: string }> = [
    { name: "no authorization header", header: undefined, secret: ALPHA },
    { name: "a wrong key", header: `Bearer ${WRONG}`, secret: WRONG },
    { name: "a malformed header (Basic xyz)", header: "Basic xyz", secret: "xyz" },
  ];

  function metadataFor(header: string | undefined): grpc.Metadata {
    const md = new grpc.Metadata();
    if (header !== undefined) md.set("authorization", header);
    return md;
  }

  it.each(headerCases)("refuses $name over grpc-js without echoing the key", async ({ header, secret }) => {
    const c = server().grpc;
    const { err, res } = await unary(c.createConversation.bind(c), { conversation: { title: "x" } }, metadataFor(header));
    expect(res).toBeUndefined();
    const d = expectGrpcError(err, grpc.status.UNAUTHENTICATED);
    expect(d.errorInfo?.reason).toBe("UNAUTHENTICATED");
    expect(err!.details).not.toContain(secret);
    expect(err!.message).not.toContain(secret);
    expect(JSON.stringify(err!.metadata.getMap())).not.toContain(secret);

    const listed = await unary(c.listConversations.bind(c), {}, metadataFor(header));
    expectGrpcError(listed.err, grpc.status.UNAUTHENTICATED);

    const streamed = await collect(c.streamMessage({ conversationId: randomUUID(), content: "hello" }, metadataFor(header)));
    expect(streamed.events).toEqual([]);
    expectGrpcError(streamed.err, grpc.status.UNAUTHENTICATED);
  });

  it.each(headerCases)("refuses $name over Connect without echoing the key", async ({ header, secret }) => {
    const opts = header === undefined ? {} : { headers: { authorization: header } };
    const e = await connectFailure(server().connect.createConversation({ conversation: { title: "x" } }, opts));
    const ce = expectConnectError(e, Code.Unauthenticated);
    expect(ce.message).not.toContain(secret);
    expect(ce.findDetails(ErrorInfoSchema)[0]?.reason).toBe("UNAUTHENTICATED");
    expect(JSON.stringify(ce.findDetails(ErrorInfoSchema))).not.toContain(secret);
  });

  it("authenticates before validating: an unauthenticated invalid request is UNAUTHENTICATED", async () => {
    const c = server().grpc;
    const { err } = await unary(c.getConversation.bind(c), { id: "not-a-uuid" }, metadataFor(`Bearer ${WRONG}`));
    const d = expectGrpcError(err, grpc.status.UNAUTHENTICATED);
    expect(d.badRequest).toBeUndefined();
  });

  it("creates nothing for refused callers", async () => {
    // Both tenants see no conversations: every create above was refused.
    for (const key of [ALPHA, BETA]) {
      const listed = await caller(server(), key).list({ pageSize: 1000 });
      expect(listed.err).toBeNull();
      expect(listed.res!.conversations).toEqual([]);
    }
  });

  it("lets valid keys in over both clients", async () => {
    const viaGrpc = await caller(server(), ALPHA).list({});
    expect(viaGrpc.err).toBeNull();
    const viaConnect = await server().connect.listConversations({}, connectAuth(BETA));
    expect(viaConnect.conversations).toBeDefined();
    const lowerCase = await server().connect.listConversations({}, { headers: { authorization: `bearer ${BETA}` } });
    expect(lowerCase.nextPageToken).toBe("");
  });
});

describe("a server with no keys on loopback", () => {
  const { server } = startServer({});

  it("lets callers in as the local tenant without a header", async () => {
    const anon = caller(server());
    const conv = await anon.conversation({ title: "local" });
    const got = await anon.get(conv.id);
    expect(got.err).toBeNull();
    expect(got.res!.conversation!.title).toBe("local");
    const listed = await server().connect.listConversations({});
    expect(listed.conversations.map((c) => c.id)).toContain(conv.id);
    expectCompletedRun(await anon.turn({ conversationId: conv.id, content: "hello" }), conv.id);
  });

  it("treats any header as the same local tenant", async () => {
    const anon = caller(server());
    const conv = await anon.conversation();
    const withHeader = await caller(server(), "whatever-key-000").get(conv.id);
    expect(withHeader.err).toBeNull();
    expect(withHeader.res!.conversation!.id).toBe(conv.id);
  });
});

// ---------------------------------------------------------------------------
// A busy conversation
// ---------------------------------------------------------------------------

describe("a conversation with a run in progress", () => {
  const { server } = startServer({ ...TWO_TENANTS, PARLEY_OFFLINE_TOKEN_DELAY_MS: "20" });

  it("refuses a second turn (ABORTED) and Delete (FAILED_PRECONDITION) while running; works again after", async () => {
    const alpha = caller(server(), ALPHA);
    const conv = await alpha.conversation();

    const long = alpha.stream({ conversationId: conv.id, content: "count to 200" });
    const done = collect(long);
    const started = await firstEvent(long);
    expect(started.event.case).toBe("started");

    const second = await alpha.turn({ conversationId: conv.id, content: "hello" });
    expect(second.events).toEqual([]);
    const d = expectGrpcError(second.err, grpc.status.ABORTED);
    expect(d.errorInfo?.reason).toBe("RUN_ACTIVE");
    expect(d.errorInfo?.metadata["run_id"]).toBe(started.runId);

    const del = await alpha.del(conv.id);
    const dd = expectGrpcError(del.err, grpc.status.FAILED_PRECONDITION);
    expect(dd.errorInfo?.reason).toBe("RUN_ACTIVE");

    // A refused request_id is not burnt: it was never stored.
    const keyed = await alpha.turn({ conversationId: conv.id, content: "hello", requestId: "after-busy" });
    expect(keyed.err?.code).toBe(grpc.status.ABORTED);

    // The first run was not disturbed.
    const first = await done;
    const text = expectCompletedRun(first, conv.id);
    expect(text.trim().split(/\s+/)).toHaveLength(200);
    expect(first.events.every((e) => e.runId === started.runId)).toBe(true);

    // Only the run that ran is stored.
    const afterFirst = await alpha.allMessages(conv.id);
    expect(afterFirst.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT]);
    expect(afterFirst[0]!.content).toBe("count to 200");

    // A new turn works, and the request_id refused while busy is usable.
    expectCompletedRun(await alpha.turn({ conversationId: conv.id, content: "hello", requestId: "after-busy" }), conv.id);
    const msgs = await alpha.allMessages(conv.id);
    expect(msgs.map((m) => m.role)).toEqual([Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]);
    expect(msgs.filter((m) => m.role === Role.USER).map((m) => m.content)).toEqual(["count to 200", "hello"]);
    expect((await alpha.get(conv.id)).res!.conversation!.messageCount).toBe(4);

    // And with no run active, Delete goes through.
    expect((await alpha.del(conv.id)).err).toBeNull();
    expectGrpcError((await alpha.get(conv.id)).err, grpc.status.NOT_FOUND);
  }, 30_000);

  it("does not block other conversations while one is busy", async () => {
    const alpha = caller(server(), ALPHA);
    const busy = await alpha.conversation();
    const other = await alpha.conversation();
    const long = alpha.stream({ conversationId: busy.id, content: "count to 200" });
    const done = collect(long);
    await firstEvent(long);
    expectCompletedRun(await alpha.turn({ conversationId: other.id, content: "hello" }), other.id);
    long.cancel();
    const ended = await done;
    expect(ended.err?.code).toBe(grpc.status.CANCELLED);
  }, 30_000);
});
