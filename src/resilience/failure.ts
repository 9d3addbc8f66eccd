/**
 * What counts as a dependency failure, stated once: upstream 5xx, 429,
 * connection errors and timeouts are failures (they count against the
 * circuit and may be retried); the caller's own cancel and a 4xx caused by
 * the request are not.
 */
import { ModelTimeoutError } from "./errors.js";

export interface FailureInfo {
  /** Counts against the circuit breaker. */
  failure: boolean;
  /** Worth another attempt (before any output reached the caller). */
  retryable: boolean;
  /** Upstream HTTP status, when there was one. */
  status?: number;
  /** The upstream's Retry-After, in ms. */
  retryAfterMs?: number;
}

function headerOf(err: object, name: string): string | null {
  const headers = (err as { headers?: unknown }).headers;
  if (!headers) return null;
  if (headers instanceof Headers) return headers.get(name);
  if (typeof headers === "object") {
    const value = (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
    return typeof value === "string" ? value : null;
  }
  return null;
}

/** Retry-After as seconds or an HTTP date; `retry-after-ms` (OpenAI's) wins. */
export function retryAfterMs(err: object, now = Date.now()): number | undefined {
  const ms = headerOf(err, "retry-after-ms");
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headerOf(err, "retry-after");
  if (value === null) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function statusOf(err: object): number | undefined {
  const status = (err as { status?: unknown }).status;
  return typeof status === "number" ? status : undefined;
}

// The openai SDK's APIConnectionError is named plain "Error" with the message "Connection error.";
// undici's own failures are a TypeError "fetch failed" whose cause says why (ECONNREFUSED, "bad port").
const CONNECTION = /APIConnection|Connection error|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|socket hang up|terminated|other side closed|fetch failed|network|premature close/i;

function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    out.push(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

/** The dependency could not be reached or dropped the connection: somewhere in the error's cause chain. */
export function isConnectionFailure(err: unknown): boolean {
  return causes(err).some((e) => e instanceof Error && CONNECTION.test(`${e.name} ${e.message} ${(e as { code?: unknown }).code ?? ""}`));
}

export function classifyFailure(err: unknown): FailureInfo {
  if (err instanceof ModelTimeoutError) return { failure: true, retryable: true };
  if (typeof err !== "object" || err === null) return { failure: false, retryable: false };
  const status = statusOf(err);
  if (status !== undefined) {
    const retryAfter = retryAfterMs(err);
    if (status === 429 || status === 408 || status >= 500) return { failure: true, retryable: true, status, retryAfterMs: retryAfter };
    return { failure: false, retryable: false, status };
  }
  if (isConnectionFailure(err)) return { failure: true, retryable: true };
  return { failure: false, retryable: false };
}

/** A short, secret-free description of a failure for logs, status and debug events: "HTTP 503", "ModelTimeoutError". */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as { status?: unknown }).status;
    if (typeof status === "number") return `HTTP ${status}`;
    return err.constructor.name !== "Error" ? err.constructor.name : err.name;
  }
  return "failure";
}
