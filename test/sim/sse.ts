/**
 * Writes an SSE body the way a real server does, plus the one transport
 * quirk that lives below the event level (splitUtf8). Every wait obeys the
 * request's abort signal, so a client that leaves stops the writer at once
 * and leaves no timer behind.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

/** Long enough for the first half to be flushed and read on its own, short enough not to slow tests. */
const SPLIT_PAUSE_MS = 5;

/** Just after the first byte of the first multi-byte UTF-8 character, or the middle when there is none. */
export function utf8SplitPoint(bytes: Uint8Array): number {
  const lead = bytes.findIndex((b) => b >= 0xc0);
  return lead >= 0 ? lead + 1 : Math.max(1, Math.floor(bytes.length / 2));
}

export class SseWriter {
  private flushed: Promise<void> = Promise.resolve();

  constructor(
    private readonly res: ServerResponse,
    private readonly signal: AbortSignal,
    private readonly opts: { splitUtf8: boolean; onChunk: () => void },
  ) {}

  open(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    this.res.flushHeaders();
  }

  /** One `data:` event carrying `json`, serialized. */
  async event(json: unknown): Promise<void> {
    await this.data(JSON.stringify(json));
  }

  /** One `data:` event with this exact payload, which need not be JSON. */
  async data(payload: string): Promise<void> {
    await this.write(`data: ${payload}\n\n`);
    this.opts.onChunk();
  }

  async done(): Promise<void> {
    await this.write("data: [DONE]\n\n");
    this.res.end();
  }

  private async write(text: string): Promise<void> {
    this.signal.throwIfAborted();
    this.open();
    const bytes = Buffer.from(text, "utf8");
    if (!this.opts.splitUtf8 || bytes.length < 2) return await this.send(bytes);
    const cut = utf8SplitPoint(bytes);
    await this.send(bytes.subarray(0, cut));
    await sleep(SPLIT_PAUSE_MS, undefined, { signal: this.signal });
    await this.send(bytes.subarray(cut));
  }

  /** Resolves once everything written so far has left the process, so a reset after N chunks really delivers N. */
  async flush(): Promise<void> {
    await this.flushed;
  }

  private async send(bytes: Uint8Array): Promise<void> {
    this.signal.throwIfAborted();
    // A write that fails (the socket died) must not leave flush() pending, hence resolve either way.
    this.flushed = new Promise((resolve) => this.res.write(bytes, () => resolve()));
    if (this.res.writableNeedDrain) await once(this.res, "drain", { signal: this.signal });
  }
}
