/**
 * The body of a streamed Chat Completions response with the tool-call
 * indices of its SSE lines repaired (see tool-call-deltas.ts).
 *
 * Works on bytes and touches only what needs it: the bytes of complete lines
 * pass through as they came (one native byte search per read); only a read
 * whose lines mention `"tool_calls"` is decoded, rewritten and encoded again.
 * The bytes after a read's last newline are held until their line is
 * complete, so a line split across reads is still seen whole; that costs no
 * latency, since the SDK parses an SSE event only once its line has ended.
 * A newline byte never occurs inside a UTF-8 sequence, so complete lines
 * always decode cleanly.
 *
 * One pull-based stream instead of a decoder, a transform and an encoder
 * piped together: every read used to cross three web-stream pipes.
 */
import { ToolCallIndexer, type ToolCallDelta } from "./tool-call-deltas.js";

interface ChunkJson {
  choices?: Array<{ delta?: { tool_calls?: ToolCallDelta[] } }>;
}

const MARKER = Buffer.from('"tool_calls"');
const NEWLINE = 0x0a;

function rewriteLine(line: string, indexer: ToolCallIndexer): string {
  if (!line.startsWith("data:") || !line.includes('"tool_calls"')) return line;
  let chunk: ChunkJson;
  try {
    chunk = JSON.parse(line.slice(5)) as ChunkJson;
  } catch {
    // Not JSON: leave it for the SDK to report as it would.
    return line;
  }
  let changed = false;
  for (const choice of chunk.choices ?? []) {
    const calls = choice.delta?.tool_calls;
    if (Array.isArray(calls)) {
      indexer.normalize(calls);
      changed = true;
    }
  }
  return changed ? `data: ${JSON.stringify(chunk)}` : line;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Splits reads into complete lines and rewrites the ones that carry tool calls. */
export class ToolCallLines {
  private readonly indexer = new ToolCallIndexer();
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();
  private pending: Buffer | null = null;

  /** The complete lines this read finished, rewritten where needed; null when it finished none. */
  push(read: Uint8Array): Uint8Array | null {
    const bytes = this.pending ? Buffer.concat([this.pending, read]) : asBuffer(read);
    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      this.pending = bytes;
      return null;
    }
    this.pending = lastNewline + 1 < bytes.length ? bytes.subarray(lastNewline + 1) : null;
    const complete = bytes.subarray(0, lastNewline + 1);
    if (complete.indexOf(MARKER) < 0) return complete;
    const text = this.decoder.decode(complete);
    return this.encoder.encode(
      text
        .split("\n")
        .map((line) => rewriteLine(line, this.indexer))
        .join("\n"),
    );
  }

  /** What is left after the last newline when the body ends. */
  flush(): Uint8Array | null {
    const rest = this.pending;
    this.pending = null;
    if (!rest) return null;
    if (rest.indexOf(MARKER) < 0) return rest;
    return this.encoder.encode(rewriteLine(this.decoder.decode(rest), this.indexer));
  }
}

/** `body` with its tool-call lines repaired. Cancelling the result cancels `body`. */
export function toolCallNormalizingBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const lines = new ToolCallLines();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          const rest = lines.flush();
          if (rest) controller.enqueue(rest);
          controller.close();
          return;
        }
        const out = lines.push(value);
        if (out) {
          controller.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
