/**
 * The bounded hand-off between a running agent (producer) and the stream's
 * reader (consumer).
 *
 * Bounded by bytes, not by count: while the reader is behind, text deltas
 * are merged into the queued text event, and once the queue holds
 * `maxBytes` the producer's push waits — the model's stream waits with it.
 * A producer kept waiting longer than `slowReaderTimeoutMs` gets
 * `onSlowReader`, which ends the run.
 */

export type ChannelItem<T> = { kind: "item"; value: T } | { kind: "idle" } | { kind: "closed" };

export interface ChannelOptions<T> {
  maxBytes: number;
  slowReaderTimeoutMs: number;
  sizeOf(value: T): number;
  /** Merges `next` into `last` when possible (returns the merged value) or returns null. */
  merge(last: T, next: T): T | null;
  onSlowReader(): void;
}

export class EventChannel<T> {
  private readonly queue: T[] = [];
  private bytes = 0;
  private closed = false;
  private readerWake: ((idle: boolean) => void) | null = null;
  /** One timer per channel, re-armed in place for each wait: a paced stream waits once per event. */
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly spaceWaiters: Array<() => void> = [];

  constructor(private readonly opts: ChannelOptions<T>) {}

  /** Queues a value; the returned promise resolves when the producer may go on. */
  push(value: T): Promise<void> | void {
    if (this.closed) return;
    const lastIndex = this.queue.length - 1;
    const last = lastIndex >= 0 ? (this.queue[lastIndex] as T) : undefined;
    const merged = last !== undefined ? this.opts.merge(last, value) : null;
    if (last !== undefined && merged !== null) {
      // Account the merged value exactly, so dequeuing subtracts what was added.
      this.queue[lastIndex] = merged;
      this.bytes += this.opts.sizeOf(merged) - this.opts.sizeOf(last);
    } else {
      this.queue.push(value);
      this.bytes += this.opts.sizeOf(value);
    }
    this.wakeReader();
    if (this.bytes < this.opts.maxBytes) return;
    return this.waitForSpace();
  }

  private waitForSpace(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.onSlowReader();
        done();
      }, this.opts.slowReaderTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = this.spaceWaiters.indexOf(done);
        if (i >= 0) this.spaceWaiters.splice(i, 1);
        resolve();
      };
      this.spaceWaiters.push(done);
    });
  }

  private wakeReader(idle = false): void {
    const wake = this.readerWake;
    this.readerWake = null;
    wake?.(idle);
  }

  /** Ends the channel: queued values are still read, waiting producers are released. */
  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.wakeReader();
    for (const w of [...this.spaceWaiters]) w();
  }

  /** Drops everything: the reader is gone. */
  discard(): void {
    this.queue.length = 0;
    this.bytes = 0;
    this.close();
  }

  /** The next value; `idle` after `idleMs` without one; `closed` once closed and drained. */
  async next(idleMs: number): Promise<ChannelItem<T>> {
    if (this.queue.length === 0 && !this.closed) {
      const idle = await new Promise<boolean>((resolve) => {
        this.readerWake = resolve;
        if (this.idleTimer) this.idleTimer.refresh();
        else this.idleTimer = setTimeout(() => this.wakeReader(true), idleMs);
      });
      if (idle) return { kind: "idle" };
    }
    const value = this.queue.shift();
    if (value === undefined) return { kind: "closed" };
    this.bytes -= this.opts.sizeOf(value);
    if (this.bytes < this.opts.maxBytes) for (const w of [...this.spaceWaiters]) w();
    return { kind: "item", value };
  }
}
