/** The byte-level SSE body rewrite on its own: reads split anywhere, multi-byte text, lines left alone. */
import { describe, expect, it } from "vitest";
import { toolCallNormalizingBody } from "../src/agent/openai/tool-call-body.js";

const enc = new TextEncoder();

function bodyOf(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(p);
      controller.close();
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ text: string; reads: Uint8Array[] }> {
  const reads: Uint8Array[] = [];
  for await (const r of stream as unknown as AsyncIterable<Uint8Array>) reads.push(r);
  return { text: new TextDecoder().decode(Buffer.concat(reads)), reads };
}

/** Every way of cutting `bytes` in two, plus one read per byte. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes], Array.from(bytes, (b) => Uint8Array.of(b))];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.slice(0, i), bytes.slice(i)]);
  return out;
}

const sse = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`;
const call = (index: number, id: string | undefined, args: string) => ({ choices: [{ delta: { tool_calls: [{ index, ...(id ? { id } : {}), function: { arguments: args } }] } }] });

describe("tool-call SSE body", () => {
  it("passes text lines through byte for byte, however the reads are cut", async () => {
    const body = enc.encode(`${sse({ choices: [{ delta: { content: "héllo 🌍 wörld" } }] })}${sse({ choices: [{ delta: { content: "ü" } }] })}data: [DONE]\n\n`);
    for (const parts of splits(body)) {
      const { text } = await readAll(toolCallNormalizingBody(bodyOf(parts)));
      expect(text).toBe(new TextDecoder().decode(body));
    }
  });

  it("hands on an unchanged read as the same bytes, without copying", async () => {
    const read = enc.encode(sse({ choices: [{ delta: { content: "x" } }] }));
    const { reads } = await readAll(toolCallNormalizingBody(bodyOf([read])));
    expect(reads).toHaveLength(1);
    expect(reads[0]!.buffer).toBe(read.buffer);
  });

  it("gives two calls that both say index 0 their own indices, however the reads are cut", async () => {
    const body = enc.encode(`${sse(call(0, "a", '{"x":1}'))}${sse(call(0, "b", '{"y":"é"}'))}data: [DONE]\n\n`);
    const expected = `${sse(call(0, "a", '{"x":1}'))}${sse(call(1, "b", '{"y":"é"}'))}data: [DONE]\n\n`;
    for (const parts of splits(body)) {
      const { text } = await readAll(toolCallNormalizingBody(bodyOf(parts)));
      expect(text).toBe(expected);
    }
  });

  it("rewrites a last line that has no newline", async () => {
    const { text } = await readAll(toolCallNormalizingBody(bodyOf([enc.encode(`${sse(call(0, "a", "{}"))}data: ${JSON.stringify(call(0, "b", "{}"))}`)])));
    expect(text).toBe(`${sse(call(0, "a", "{}"))}data: ${JSON.stringify(call(1, "b", "{}"))}`);
  });

  it("cancelling the result cancels the upstream body", async () => {
    let cancelled: unknown;
    const upstream = new ReadableStream<Uint8Array>({
      pull() {
        return new Promise(() => {});
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    await toolCallNormalizingBody(upstream).cancel("gone");
    expect(cancelled).toBe("gone");
  });
});
