/**
 * A cockatiel circuit breaker per dependency, with what cockatiel leaves to
 * us: while open, or half-open with its trial calls taken, every other call
 * fails at once (cockatiel would make them wait for the trials' verdict);
 * counters and recent state changes for status and debug output; and the
 * time until the next trial, for RetryInfo.
 */
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  SamplingBreaker,
  circuitBreaker,
  handleWhen,
  type IBreaker,
} from "cockatiel";
import { CircuitOpenError } from "./errors.js";
import { describeFailure } from "./failure.js";
import { HalfOpenBackoff } from "./half-open-backoff.js";

export interface BreakerOptions {
  kind: "consecutive" | "sampling";
  /** Consecutive failures that open the circuit (consecutive kind). */
  failures: number;
  /** Failure rate (0..1) over `windowMs` that opens it (sampling kind), with at least `minimumRps` calls/s. */
  sampling: { threshold: number; windowMs: number; minimumRps: number };
  halfOpenMs: number;
  halfOpenMaxMs: number;
  /** Successful trial calls needed to close it again. */
  successes: number;
}

export type BreakerState = "closed" | "open" | "half_open";

export interface StateChange {
  from: BreakerState;
  to: BreakerState;
  at: Date;
  reason: string;
}

export interface BreakerSnapshot {
  state: BreakerState;
  totalCalls: number;
  successfulCalls: number;
  failedCalls: number;
  rejectedCalls: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastFailureAt: Date | null;
  lastSuccessAt: Date | null;
  /** Until the next trial may run; 0 unless open. */
  retryAfterMs: number;
  recentChanges: StateChange[];
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half_open",
  [CircuitState.Isolated]: "open",
};

const MAX_CHANGES = 20;
// A non-trial call during half-open: the verdict is near; suggest a short wait.
const HALF_OPEN_RETRY_MS = 1000;


export class CircuitBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private openDelayMs = 0;
  private openedAt = 0;
  private trialsStarted = 0;
  private lastFailure: unknown;
  private readonly changes: StateChange[] = [];
  private readonly counters = { total: 0, successful: 0, failed: 0, rejected: 0, consecutiveFailures: 0, consecutiveSuccesses: 0 };
  private lastFailureAt: Date | null = null;
  private lastSuccessAt: Date | null = null;
  private current: BreakerState = "closed";

  constructor(
    readonly name: string,
    private readonly opts: BreakerOptions,
    private readonly isFailure: (err: unknown) => boolean,
    private readonly onChange?: (change: StateChange) => void,
  ) {
    const breaker: IBreaker =
      opts.kind === "sampling"
        ? new SamplingBreaker({ threshold: opts.sampling.threshold, duration: opts.sampling.windowMs, minimumRps: opts.sampling.minimumRps })
        : new ConsecutiveBreaker(opts.failures);
    this.policy = circuitBreaker(
      // A trial the caller abandoned proved nothing: count it as failed rather than as the success cockatiel would assume.
      handleWhen((err) => this.isFailure(err) || (this.policy.state === CircuitState.HalfOpen && isAbort(err))),
      {
        breaker,
        halfOpenAfter: new HalfOpenBackoff(opts.halfOpenMs, opts.halfOpenMaxMs, (ms) => (this.openDelayMs = ms)),
        halfOpenSampling: { calls: opts.successes, threshold: 0 },
      },
    );
    this.policy.onBreak((reason) => {
      this.openedAt = Date.now();
      this.lastFailure = "error" in reason ? reason.error : reason;
    });
    this.policy.onStateChange((state) => {
      const to = STATE_NAMES[state];
      const reason =
        to === "open" ? `${describeFailure(this.lastFailure)}${this.current === "half_open" ? " in a trial call" : ""}; next trial in ${this.openDelayMs} ms`
        : to === "half_open" ? "half-open delay elapsed"
        : `${this.opts.successes} trial calls succeeded`;
      const change: StateChange = { from: this.current, to, at: new Date(), reason };
      this.current = to;
      // Entering half-open happens inside the first trial's own call: its slot is already counted.
      if (to !== "half_open") this.trialsStarted = 0;
      this.changes.push(change);
      if (this.changes.length > MAX_CHANGES) this.changes.shift();
      this.onChange?.(change);
    });
  }

  get state(): BreakerState {
    return this.current;
  }

  private untilTrialMs(): number {
    return Math.max(0, this.openedAt + this.openDelayMs - Date.now());
  }

  /** Fails fast when the call would not be a trial; reserves a trial slot when it is one. */
  private admit(): void {
    const state = this.policy.state;
    if (state === CircuitState.Closed) return;
    if (state === CircuitState.Open) {
      const wait = this.untilTrialMs();
      if (wait > 0) throw new CircuitOpenError(this.name, wait);
    }
    // Half-open, or open with the delay elapsed (cockatiel enters half-open on this call).
    if (this.trialsStarted >= this.opts.successes) throw new CircuitOpenError(this.name, HALF_OPEN_RETRY_MS);
    this.trialsStarted++;
  }

  /** How long until a call could be admitted, or null when it would be now (a check, reserving nothing). */
  wouldReject(): number | null {
    const state = this.policy.state;
    if (state === CircuitState.Closed) return null;
    if (state === CircuitState.Open) {
      const wait = this.untilTrialMs();
      if (wait > 0) return wait;
    }
    return this.trialsStarted >= this.opts.successes ? HALF_OPEN_RETRY_MS : null;
  }

  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      this.admit();
    } catch (err) {
      this.counters.rejected++;
      throw err;
    }
    this.counters.total++;
    try {
      const result = await this.policy.execute(({ signal: s }) => fn(s), signal);
      this.counters.successful++;
      this.counters.consecutiveSuccesses++;
      this.counters.consecutiveFailures = 0;
      this.lastSuccessAt = new Date();
      return result;
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        this.counters.rejected++;
        throw new CircuitOpenError(this.name, this.untilTrialMs() || HALF_OPEN_RETRY_MS);
      }
      if (this.isFailure(err)) {
        this.counters.failed++;
        this.counters.consecutiveFailures++;
        this.counters.consecutiveSuccesses = 0;
        this.lastFailureAt = new Date();
      }
      throw err;
    }
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.current,
      totalCalls: this.counters.total,
      successfulCalls: this.counters.successful,
      failedCalls: this.counters.failed,
      rejectedCalls: this.counters.rejected,
      consecutiveFailures: this.counters.consecutiveFailures,
      consecutiveSuccesses: this.counters.consecutiveSuccesses,
      lastFailureAt: this.lastFailureAt,
      lastSuccessAt: this.lastSuccessAt,
      retryAfterMs: this.current === "open" ? this.untilTrialMs() : 0,
      recentChanges: [...this.changes],
    };
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "ModelAbortError" || err.name === "APIUserAbortError" || err.name === "TaskCancelledError");
}
