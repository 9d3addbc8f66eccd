/**
 * The model call attempt in progress, carried through async calls so code
 * the attempt does not call directly can still reach it: the OpenAI fetch
 * merges its abort signal into the HTTP request, the offline model its
 * pacing, and the token callback reports activity to the attempt's
 * first-token and idle timers.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { followSignals } from "./signals.js";

export interface Attempt {
  /** Aborts when this attempt must stop (its timeout, or the run's end). */
  readonly signal: AbortSignal;
  /** Something arrived from the model: a token or a piece of a tool call. */
  activity(): void;
}

const storage = new AsyncLocalStorage<Attempt>();

export function runInAttempt<T>(attempt: Attempt, fn: () => Promise<T>): Promise<T> {
  return storage.run(attempt, fn);
}

export function currentAttempt(): Attempt | undefined {
  return storage.getStore();
}

/** `signal` combined with the current attempt's, if any. */
export function withAttemptSignal(signal: AbortSignal | null | undefined): AbortSignal | undefined {
  const attempt = storage.getStore();
  if (!attempt) return signal ?? undefined;
  // Not disposed: both sources end with the attempt, and the request holds the composite until then.
  return signal ? followSignals(signal, attempt.signal).signal : attempt.signal;
}
