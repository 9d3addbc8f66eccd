/** Traces over OTLP: a span per RPC continuing the caller's W3C trace, with the run's spans inside it. */
import http from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { startTestServer, unary } from "./helpers/server.js";
import { drainGrpc, kinds } from "./helpers/streams.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

/** A minimal OTLP/HTTP JSON receiver on loopback. */
async function collector(): Promise<{ url: string; spans: OtlpSpan[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value;

describe("traces", () => {
  it("continue the caller's traceparent: RPC span, invoke_agent, chat per model call, execute_tool per tool call", async () => {
    const otlp = await collector();
    const s = await startTestServer({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
    try {
      const conv = (await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} })).res!.conversation!.id;
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const parentId = "00f067aa0ba902b7";
      const md = new grpc.Metadata();
      md.set("traceparent", `00-${traceId}-${parentId}-01`);
      const { events } = await drainGrpc(s.grpc.streamMessage({ conversationId: conv, content: "what is 17*23?" }, md));
      expect(kinds(events).at(-1)).toBe("complete");
    } finally {
      // Draining flushes the batch of spans.
      await s.close(true);
    }
    const spans = otlp.spans.filter((x) => x.traceId === "4bf92f3577b34da6a3ce929d0e0e4736");
    const rpc = spans.find((x) => x.name === "parley.v1.ConversationService/StreamMessage");
    expect(rpc?.parentSpanId).toBe("00f067aa0ba902b7");
    expect(attr(rpc!, "rpc.status_code")?.stringValue).toBe("OK");
    const agent = spans.find((x) => x.name === "invoke_agent parley");
    expect(agent?.parentSpanId).toBe(rpc!.spanId);
    const chats = spans.filter((x) => x.name === "chat parley-offline");
    expect(chats).toHaveLength(2);
    for (const c of chats) expect(c.parentSpanId).toBe(agent!.spanId);
    expect(attr(chats[0]!, "gen_ai.usage.output_tokens")).toBeDefined();
    const tool = spans.find((x) => x.name === "execute_tool calculator");
    expect(tool?.parentSpanId).toBe(agent!.spanId);
    await otlp.close();
  });
});
