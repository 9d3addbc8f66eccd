/**
 * Aborts model call attempts that send nothing: no first token within
 * `firstTokenMs`, or a gap longer than `idleMs` between two pieces.
 *
 * One ticker per policy checks every attempt in flight, instead of a timer
 * per attempt re-armed per token: a token then costs one clock read and a
 * store, and a timeout fires at most one tick (a tenth of the shortest
 * timeout, 10–250 ms) late.
 */
import { ModelTimeoutError } from "./errors.js";

export interface Watch {
  /** Something arrived from the model. */
  activity(): void;
  stop(): void;
}

interface Entry {
  lastAt: number;
  seen: boolean;
  onTimeout: (err: ModelTimeoutError) => void;
}

export class StreamWatchdogs {
  private readonly active = new Set<Entry>();
  private ticker: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(
    private readonly dependency: string,
    private readonly firstTokenMs: number,
    private readonly idleMs: number,
  ) {
    this.tickMs = Math.min(250, Math.max(10, Math.floor(Math.min(firstTokenMs, idleMs) / 10)));
  }

  watch(onTimeout: (err: ModelTimeoutError) => void): Watch {
    const entry: Entry = { lastAt: performance.now(), seen: false, onTimeout };
    this.active.add(entry);
    if (!this.ticker) {
      this.ticker = setInterval(() => this.check(), this.tickMs);
      // The ticker alone must not keep the process alive.
      this.ticker.unref();
    }
    return {
      activity: () => {
        entry.lastAt = performance.now();
        entry.seen = true;
      },
      stop: () => this.remove(entry),
    };
  }

  private remove(entry: Entry): void {
    this.active.delete(entry);
    if (this.active.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private check(): void {
    const now = performance.now();
    for (const e of this.active) {
      const limit = e.seen ? this.idleMs : this.firstTokenMs;
      if (now - e.lastAt >= limit) {
        this.remove(e);
        e.onTimeout(new ModelTimeoutError(this.dependency, e.seen ? "idle" : "first_token", limit));
      }
    }
  }
}
