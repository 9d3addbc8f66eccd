/** Cases a new user's review turned up: each fixed as a kind, each kept here. */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ConfigError, loadConfig } from "../src/config.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { startTestServer, tempDir, unary } from "./helpers/server.js";
import { drainGrpc, eventually } from "./helpers/streams.js";

describe("requests", () => {
  it("a UUID in upper case names the same conversation", async () => {
    const s = await startTestServer();
    try {
      const id = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} })).res!.conversation!.id;
      const { err, res } = await unary(s.grpc.getConversation.bind(s.grpc), { id: id.toUpperCase() });
      expect(err).toBeNull();
      expect(res?.conversation?.id).toBe(id);
      const msgs = await unary(s.grpc.listMessages.bind(s.grpc), { conversationId: id.toUpperCase() });
      expect(msgs.err).toBeNull();
    } finally {
      await s.close(true);
    }
  });

  it("content made only of Unicode spaces is INVALID_ARGUMENT", async () => {
    const s = await startTestServer();
    try {
      const id = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} })).res!.conversation!.id;
      for (const content of ["\u00a0\u2003", "\ufeff", "\u3000 \t"]) {
        const { events, err } = await drainGrpc(s.grpc.streamMessage({ conversationId: id, content }));
        expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(events).toHaveLength(0);
      }
    } finally {
      await s.close(true);
    }
  });

  it("an unknown method over HTTP/1.1 is UNIMPLEMENTED for Connect and gRPC-Web callers", async () => {
    const s = await startTestServer();
    try {
      const res = await fetch(`${s.baseUrl}/parley.v1.ConversationService/Nope`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("unimplemented");
      const web = await fetch(`${s.baseUrl}/no.Such/Method`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: new Uint8Array(5) });
      expect(web.headers.get("grpc-status")).toBe("12");
      // The probes still answer GET.
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
      const health = createClient(Health, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
      expect((await health.check({ service: "" })).status).toBeGreaterThan(0);
    } finally {
      await s.close(true);
    }
  });

  it("a Connect client's cancel is logged as CANCELLED, not as an error", async () => {
    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
    const s = await startTestServer({ PARLEY_LOG_LEVEL: "info", PARLEY_OFFLINE_TOKEN_DELAY_MS: "20" }, {}, tempDir(), logs);
    try {
      const id = (await s.connect.createConversation({ conversation: {} })).conversation!.id;
      const abort = new AbortController();
      let chunks = 0;
      await expect(async () => {
        for await (const r of s.connect.streamMessage({ conversationId: id, content: "count to 300" }, { signal: abort.signal })) {
          if (r.event?.event.case === "chunk" && ++chunks === 3) abort.abort();
        }
      }).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.Canceled);
      const line = await eventually(() => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l["msg"] === "call" && l["method"] === "parley.v1.ConversationService/StreamMessage"), 5000, "the call's log line");
      expect(line["code"]).toBe("CANCELLED");
      expect(line["level"]).toBe("info");
    } finally {
      await s.close(true);
    }
  });
});

describe("configuration refuses what would go wrong silently", () => {
  it("a key listed twice", () => {
    expect(() => loadConfig({ PARLEY_API_KEYS: "supersecretkey123=a,supersecretkey123=b:admin" })).toThrow(/repeats an earlier key/);
    try {
      loadConfig({ PARLEY_API_KEYS: "supersecretkey123=a,supersecretkey123=b:admin" });
    } catch (e) {
      expect((e as Error).message).not.toContain("supersecretkey123");
    }
  });

  it("ports that are not plain decimal numbers, and a metrics port equal to the main port", () => {
    expect(() => loadConfig({ PARLEY_PORT: "0x100" })).toThrow(/PARLEY_PORT/);
    expect(() => loadConfig({ PARLEY_PORT: "5005", PARLEY_METRICS_PORT: "5005" })).toThrow(/PARLEY_METRICS_PORT/);
  });

  it("a database URL it cannot open, named, without its password", () => {
    expect(() => loadConfig({ PARLEY_DATABASE_URL: "postgres://user:hunter2@db/x" })).toThrow(ConfigError);
    try {
      loadConfig({ PARLEY_DATABASE_URL: "postgres://user:hunter2@db/x" });
    } catch (e) {
      expect((e as Error).message).toMatch(/^PARLEY_DATABASE_URL/);
      expect((e as Error).message).not.toContain("hunter2");
    }
  });
});

describe("malformed request bytes over native gRPC", () => {
  it("are INVALID_ARGUMENT, not INTERNAL, for unary and streaming methods", async () => {
    const s = await startTestServer();
    const client = new grpc.Client(s.address, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x07]);
    const raw = (x: Buffer) => x;
    try {
      const unaryErr = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest("/parley.v1.ConversationService/GetConversation", raw, raw, garbage, (err) => resolve(err)),
      );
      expect(unaryErr?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const streamErr = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.makeServerStreamRequest("/parley.v1.ConversationService/StreamMessage", raw, raw, garbage);
        call.on("data", () => {});
        call.on("error", (e: grpc.ServiceError) => resolve(e));
        call.on("end", () => resolve(null));
      });
      expect(streamErr?.code).toBe(grpc.status.INVALID_ARGUMENT);
      // The server is fine afterwards.
      const { err } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
      expect(err).toBeNull();
    } finally {
      client.close();
      await s.close(true);
    }
  });
});
