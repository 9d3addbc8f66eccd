/**
 * The policy around every call to one model: bulkhead (shared by all
 * models), retry, circuit breaker, and the first-token and idle timeouts of
 * each attempt, composed from cockatiel's policies.
 *
 * A streamed call is not a plain function call: once a token reached the
 * caller a retry would show it twice, so an attempt is retried only while
 * `outputSent()` is false, only for retryable failures, and only when the
 * wait (exponential with jitter, or the upstream's Retry-After) fits in
 * what is left of the turn.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BulkheadRejectedError, type BulkheadPolicy } from "cockatiel";
import { runInAttempt, type Attempt } from "./attempt-scope.js";
import { followSignals } from "./signals.js";
import { CircuitBreaker, type BreakerOptions } from "./breaker.js";
import { BulkheadFullError, ModelTimeoutError, RetryBudgetError } from "./errors.js";
import { classifyFailure, describeFailure } from "./failure.js";
import { StreamWatchdogs } from "./watchdog.js";

export interface ModelPolicyOptions {
  breaker: BreakerOptions;
  /** Retries after the first attempt. */
  retries: number;
  retryBaseMs: number;
  retryMaxDelayMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface CallOptions {
  /** The turn's signal: the caller's cancel and deadline, and the turn budget. */
  signal: AbortSignal;
  /** Epoch ms by which the turn must end. */
  deadlineAt: number;
  /** Whether anything of the current attempt reached the caller. */
  outputSent(): boolean;
  onRetry?(info: { attempt: number; delayMs: number; reason: string }): void;
  /** The first token or tool-call piece of the call arrived (once per call). */
  onFirstChunk?(): void;
}

export class ModelPolicy {
  readonly breaker: CircuitBreaker;
  private readonly watchdogs: StreamWatchdogs;

  constructor(
    readonly name: string,
    private readonly opts: ModelPolicyOptions,
    private readonly bulkhead: BulkheadPolicy,
    onBreakerChange?: ConstructorParameters<typeof CircuitBreaker>[3],
  ) {
    this.breaker = new CircuitBreaker(name, opts.breaker, (err) => classifyFailure(err).failure, onBreakerChange);
    this.watchdogs = new StreamWatchdogs(name, opts.firstTokenTimeoutMs, opts.idleTimeoutMs);
  }

  private backoffMs(attempt: number): number {
    const exp = Math.min(this.opts.retryMaxDelayMs, this.opts.retryBaseMs * 2 ** Math.max(0, attempt - 1));
    // Jitter in [exp/2, exp): spreads clients that failed together.
    return exp / 2 + Math.random() * (exp / 2);
  }

  private delayFor(err: unknown, attempt: number): number {
    const info = classifyFailure(err);
    return Math.max(info.retryAfterMs ?? 0, this.backoffMs(attempt));
  }

  private shouldRetry(err: unknown, call: CallOptions, attempt: number): boolean {
    if (call.signal.aborted || call.outputSent()) return false;
    const info = classifyFailure(err);
    if (!info.retryable) return false;
    return Date.now() + this.delayFor(err, attempt) < call.deadlineAt;
  }

  private async attempt<T>(fn: (attempt: Attempt) => Promise<T>, parent: AbortSignal, onFirstChunk: (() => void) | undefined): Promise<T> {
    const own = followSignals(parent);
    let timedOut: ModelTimeoutError | undefined;
    const watchdog = this.watchdogs.watch((err) => {
      timedOut = err;
      own.controller.abort(err);
    });
    let first = onFirstChunk;
    const attempt: Attempt = {
      signal: own.signal,
      activity: () => {
        if (first) {
          first();
          first = undefined;
        }
        watchdog.activity();
      },
    };
    try {
      return await runInAttempt(attempt, () => fn(attempt));
    } catch (err) {
      // The abort surfaces as the SDK's abort error; what happened was the timeout.
      if (timedOut && !parent.aborted) throw timedOut;
      throw err;
    } finally {
      watchdog.stop();
      own.dispose();
    }
  }

  /**
   * Attempts under the breaker until one succeeds or a failure may not be retried. A loop of
   * our own rather than cockatiel's retry: that one is built per call (its policy, executor,
   * backoff and four event emitters) and adds two suspended frames to every model call an open
   * turn holds; the decisions (shouldRetry, delayFor) were ours already.
   */
  private async withRetries<T>(fn: (attempt: Attempt) => Promise<T>, call: CallOptions, onFirstChunk: (() => void) | undefined): Promise<T> {
    for (let attemptNo = 1; ; attemptNo++) {
      try {
        // The breaker hands the attempt the signal it was given (the call's): no second link needed.
        return await this.breaker.execute((signal) => this.attempt(fn, signal, onFirstChunk), call.signal);
      } catch (err) {
        if (attemptNo > this.opts.retries || !this.shouldRetry(err, call, attemptNo)) throw err;
        const delayMs = this.delayFor(err, attemptNo);
        call.onRetry?.({ attempt: attemptNo, delayMs: Math.round(delayMs), reason: describeFailure(err) });
        await sleep(delayMs);
      }
    }
  }

  async execute<T>(fn: (attempt: Attempt) => Promise<T>, call: CallOptions): Promise<T> {
    let firstChunk = call.onFirstChunk;
    const onceFirstChunk = firstChunk
      ? () => {
          firstChunk?.();
          firstChunk = undefined;
        }
      : undefined;
    try {
      return await this.bulkhead.execute(() => this.withRetries(fn, call, onceFirstChunk), call.signal);
    } catch (err) {
      if (err instanceof BulkheadRejectedError) throw new BulkheadFullError(this.name);
      const info = classifyFailure(err);
      if (info.retryable && info.retryAfterMs !== undefined && !call.outputSent() && Date.now() + info.retryAfterMs >= call.deadlineAt) {
        throw new RetryBudgetError(this.name, info.retryAfterMs, err);
      }
      throw err;
    }
  }
}

