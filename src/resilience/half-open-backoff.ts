/**
 * The delay before a circuit's next trial: `initialMs`, doubling with each
 * failed trial, capped at `maxMs`. It reports each delay it hands out so the
 * breaker can tell callers when the next trial is due (RetryInfo).
 */
import type { IBackoff, IBackoffFactory, IHalfOpenAfterBackoffContext } from "cockatiel";

export class HalfOpenBackoff implements IBackoffFactory<IHalfOpenAfterBackoffContext> {
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly onDelay: (ms: number) => void,
  ) {}

  next(context: IHalfOpenAfterBackoffContext): IBackoff<IHalfOpenAfterBackoffContext> {
    const duration = Math.min(this.initialMs * 2 ** Math.max(0, context.attempt - 1), this.maxMs);
    this.onDelay(duration);
    return { duration, next: (c) => this.next(c) };
  }
}
