/**
 * Aborts a model call attempt that sends nothing: no first token within
 * `firstTokenMs`, or a gap longer than `idleMs` between two pieces.
 */
import { ModelTimeoutError } from "./errors.js";

export class StreamWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private seen = false;

  constructor(
    private readonly dependency: string,
    private readonly firstTokenMs: number,
    private readonly idleMs: number,
    private readonly onTimeout: (err: ModelTimeoutError) => void,
  ) {
    this.arm(firstTokenMs, "first_token");
  }

  private arm(ms: number, kind: "first_token" | "idle"): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(new ModelTimeoutError(this.dependency, kind, ms)), ms);
  }

  /** Called per token: after the first, the idle timer is only re-armed in place (no new timer per token). */
  activity(): void {
    if (!this.seen) {
      this.seen = true;
      this.arm(this.idleMs, "idle");
      return;
    }
    this.timer?.refresh();
  }

  get sawActivity(): boolean {
    return this.seen;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
