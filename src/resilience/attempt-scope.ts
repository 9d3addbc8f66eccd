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

interface Scope {
  readonly attempt: Attempt;
  /** Followers made by withAttemptSignal, released when the attempt ends. */
  readonly followers: Array<() => void>;
}

const storage = new AsyncLocalStorage<Scope>();

export function runInAttempt<T>(attempt: Attempt, fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { attempt, followers: [] };
  const release = () => {
    for (const dispose of scope.followers) dispose();
  };
  // `finally` rather than an async wrapper: one promise, not another frame every open turn holds.
  let running: Promise<T>;
  try {
    running = storage.run(scope, fn);
  } catch (err) {
    release();
    throw err;
  }
  return running.finally(release);
}

export function currentAttempt(): Attempt | undefined {
  return storage.getStore()?.attempt;
}

/**
 * `signal` combined with the current attempt's, if any; the link lasts until
 * the attempt ends. It must not outlive it: the signal LangChain hands a model
 * is an `AbortSignal.any` composite, and Node 20 keeps a composite with a
 * (non-weak) abort listener in a global set until that listener is removed,
 * so a follower never disposed pins the composite, and the turn it belongs to,
 * for the life of the process.
 */
export function withAttemptSignal(signal: AbortSignal | null | undefined): AbortSignal | undefined {
  const scope = storage.getStore();
  if (!scope) return signal ?? undefined;
  if (!signal) return scope.attempt.signal;
  const follower = followSignals(signal, scope.attempt.signal);
  scope.followers.push(follower.dispose);
  return follower.signal;
}
