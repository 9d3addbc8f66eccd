/**
 * The policy around one tool: a time limit (the tool gets an abort signal
 * and the turn gets an error result when the tool overruns) and a circuit
 * breaker that counts only timeouts — a tool refusing bad input is the
 * tool working.
 */
import { CircuitBreaker } from "./breaker.js";
import { followSignals } from "./signals.js";

export class ToolTimeoutError extends Error {
  override name = "ToolTimeoutError";
  constructor(readonly tool: string, readonly afterMs: number) {
    super(`the ${tool} tool did not finish within ${afterMs} ms`);
  }
}

export async function withTimeout<T>(name: string, timeoutMs: number, parent: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const own = followSignals(parent);
  const signal = own.signal;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new ToolTimeoutError(name, timeoutMs);
      own.controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([fn(signal), timeout]);
  } finally {
    clearTimeout(timer);
    own.dispose();
  }
}

export const isToolFailure = (err: unknown): boolean => err instanceof ToolTimeoutError;

export class ToolPolicy {
  constructor(
    readonly breaker: CircuitBreaker,
    private readonly timeoutMs: number,
  ) {}

  execute<T>(name: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.breaker.execute((s) => withTimeout(name, this.timeoutMs, s, fn), signal);
  }
}
