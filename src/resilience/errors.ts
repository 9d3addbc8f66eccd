/**
 * Why a guarded call did not happen or did not succeed, in terms the API
 * layer maps to codes (UNAVAILABLE, RESOURCE_EXHAUSTED) and RetryInfo.
 */

/** The dependency's circuit is open (or half-open with its trials taken). */
export class CircuitOpenError extends Error {
  override name = "CircuitOpenError";
  constructor(readonly dependency: string, readonly retryAfterMs: number) {
    super(`${dependency} is unavailable (circuit open)`);
  }
}

/** The bulkhead for the dependency has no free slot or queue place. */
export class BulkheadFullError extends Error {
  override name = "BulkheadFullError";
  constructor(readonly dependency: string) {
    super(`${dependency} is at capacity`);
  }
}

export type TimeoutKind = "first_token" | "idle";

/** The model sent nothing for too long: before its first token, or between two. */
export class ModelTimeoutError extends Error {
  override name = "ModelTimeoutError";
  constructor(readonly dependency: string, readonly kind: TimeoutKind, readonly afterMs: number) {
    super(kind === "first_token" ? `${dependency} sent no first token within ${afterMs} ms` : `${dependency} stalled for ${afterMs} ms mid-stream`);
  }
}

/** The upstream asked us to wait longer than the turn has left. */
export class RetryBudgetError extends Error {
  override name = "RetryBudgetError";
  constructor(readonly dependency: string, readonly retryAfterMs: number, override readonly cause: unknown) {
    super(`${dependency} asked to retry after ${retryAfterMs} ms, beyond the turn's budget`);
  }
}
