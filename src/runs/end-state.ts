/**
 * How a run ended, decided in one place from the facts the runner holds.
 *
 * Abort signals are classified by their reason, never by `aborted` alone:
 * connect-node aborts the handler signal after a normal completion too.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BulkheadFullError, CircuitOpenError, ModelTimeoutError, RetryBudgetError } from "../resilience/errors.js";
import { isConnectionFailure } from "../resilience/failure.js";
import { ToolTimeoutError } from "../resilience/tool-policy.js";
import type { FinishReason, RunStatus } from "../store/store.js";

export type EndReason =
  | "completed"
  | "cancelled_by_caller"
  | "caller_deadline"
  | "turn_timeout"
  | "slow_reader"
  | "shutdown"
  | "upstream_failure"
  | "upstream_timeout"
  | "circuit_open"
  | "overloaded"
  | "step_limit"
  | "internal_error";

export interface EndState {
  status: Exclude<RunStatus, "running">;
  endReason: EndReason;
  /** Null when completed. */
  code: Code | null;
  /** Safe to show to the caller. */
  message: string;
  /** ErrorInfo reason. */
  reason: string;
  retryable: boolean;
  retryDelayMs?: number;
  /** ErrorInfo metadata, e.g. the dependency. */
  metadata?: Record<string, string>;
  /** The finish reason stored on a step the end cut short. */
  cutShort: FinishReason | null;
}

/** The run's own reasons to abort, carried as the abort reason. */
export class RunAbort extends Error {
  constructor(readonly endReason: "slow_reader" | "shutdown" | "reader_gone") {
    super(endReason);
    this.name = "RunAbort";
  }
}

export interface EndFacts {
  error: unknown;
  failed: boolean;
  callerSignal: AbortSignal;
  turnTimeout: AbortSignal;
  runSignal: AbortSignal;
  turnTimeoutMs: number;
}

function callerAbortCode(signal: AbortSignal): Code | null {
  if (!signal.aborted) return null;
  const code = ConnectError.from(signal.reason).code;
  return code === Code.DeadlineExceeded ? Code.DeadlineExceeded : Code.Canceled;
}

function upstreamStatus(err: unknown): number | null {
  if (typeof err !== "object" || err === null) return null;
  const status = (err as { status?: unknown }).status;
  return typeof status === "number" ? status : null;
}

/**
 * LangChain wraps what a middleware throws (its MiddlewareError, named
 * plain "Error"): the first error in the cause chain that says what
 * happened is the one to classify.
 */
function unwrap(err: unknown): unknown {
  let e: unknown = err;
  for (let i = 0; i < 6 && e instanceof Error; i++) {
    const known =
      e instanceof CircuitOpenError || e instanceof BulkheadFullError || e instanceof RetryBudgetError ||
      e instanceof ModelTimeoutError || e instanceof ToolTimeoutError || e.name === "GraphRecursionError" ||
      typeof (e as { status?: unknown }).status === "number";
    if (known) return e;
    if (e.cause === undefined) break;
    e = e.cause;
  }
  return err;
}

export function classifyEnd(f: EndFacts): EndState {
  const runReason: unknown = f.runSignal.aborted ? f.runSignal.reason : undefined;
  if (runReason instanceof RunAbort) {
    switch (runReason.endReason) {
      case "slow_reader":
        return {
          status: "cancelled", endReason: "slow_reader", code: Code.ResourceExhausted, reason: "SLOW_READER",
          message: "the client did not read the stream fast enough", retryable: false, cutShort: "cancelled",
        };
      case "shutdown":
        return {
          status: "cancelled", endReason: "shutdown", code: Code.Unavailable, reason: "SHUTTING_DOWN",
          message: "the server is shutting down", retryable: true, retryDelayMs: 1000, cutShort: "cancelled",
        };
      case "reader_gone":
        break;
    }
  }
  const callerCode = callerAbortCode(f.callerSignal) ?? (runReason instanceof RunAbort ? Code.Canceled : null);
  if (callerCode === Code.DeadlineExceeded) {
    return {
      status: "failed", endReason: "caller_deadline", code: Code.DeadlineExceeded, reason: "DEADLINE_EXCEEDED",
      message: "the caller's deadline was exceeded", retryable: false, cutShort: "error",
    };
  }
  if (callerCode === Code.Canceled) {
    return {
      status: "cancelled", endReason: "cancelled_by_caller", code: Code.Canceled, reason: "CANCELLED",
      message: "the caller cancelled the run", retryable: false, cutShort: "cancelled",
    };
  }
  if (!f.failed) {
    return { status: "completed", endReason: "completed", code: null, reason: "", message: "", retryable: false, cutShort: null };
  }
  if (f.turnTimeout.aborted) {
    return {
      status: "failed", endReason: "turn_timeout", code: Code.DeadlineExceeded, reason: "TURN_TIMEOUT",
      message: `the turn took longer than ${f.turnTimeoutMs} ms`, retryable: true, cutShort: "error",
    };
  }
  const err = unwrap(f.error);
  if (err instanceof CircuitOpenError) {
    return {
      status: "failed", endReason: "circuit_open", code: Code.Unavailable, reason: "CIRCUIT_OPEN",
      message: "the model is unavailable (circuit open); retry later", retryable: true, retryDelayMs: err.retryAfterMs,
      metadata: { dependency: err.dependency }, cutShort: "error",
    };
  }
  if (err instanceof BulkheadFullError) {
    return {
      status: "failed", endReason: "overloaded", code: Code.ResourceExhausted, reason: "BULKHEAD_FULL",
      message: "too many model calls in progress; retry later", retryable: true, metadata: { dependency: err.dependency }, cutShort: "error",
    };
  }
  if (err instanceof RetryBudgetError) {
    return {
      status: "failed", endReason: "upstream_failure", code: Code.Unavailable, reason: "UPSTREAM_RETRY_AFTER",
      message: "the model provider asked to retry later than this turn can wait", retryable: true, retryDelayMs: err.retryAfterMs,
      metadata: { dependency: err.dependency }, cutShort: "error",
    };
  }
  if (err instanceof ModelTimeoutError) {
    return {
      status: "failed", endReason: "upstream_timeout", code: Code.Unavailable, reason: err.kind === "first_token" ? "FIRST_TOKEN_TIMEOUT" : "IDLE_TIMEOUT",
      message: err.kind === "first_token" ? "the model sent no first token in time" : "the model stopped sending mid-answer",
      retryable: true, metadata: { dependency: err.dependency }, cutShort: "error",
    };
  }
  if (err instanceof ToolTimeoutError) {
    return {
      status: "failed", endReason: "upstream_timeout", code: Code.Unavailable, reason: "TOOL_TIMEOUT",
      message: err.message, retryable: true, metadata: { dependency: `tool:${err.tool}` }, cutShort: "error",
    };
  }
  if (err instanceof Error && err.name === "GraphRecursionError") {
    return {
      status: "failed", endReason: "step_limit", code: Code.ResourceExhausted, reason: "STEP_LIMIT",
      message: "the agent used more steps than a turn allows", retryable: false, cutShort: "error",
    };
  }
  const status = upstreamStatus(err);
  if ((status !== null && (status === 429 || status >= 500)) || isConnectionFailure(f.error)) {
    return {
      status: "failed", endReason: "upstream_failure", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE",
      message: status !== null ? `the model provider answered HTTP ${status}` : "the model provider could not be reached",
      retryable: true, cutShort: "error",
    };
  }
  if (status !== null && status >= 400) {
    return {
      status: "failed", endReason: "upstream_failure", code: Code.FailedPrecondition, reason: "UPSTREAM_REJECTED",
      message: `the model provider rejected the request (HTTP ${status})`, retryable: false, cutShort: "error",
    };
  }
  return {
    status: "failed", endReason: "internal_error", code: Code.Internal, reason: "INTERNAL",
    message: "internal error", retryable: false, cutShort: "error",
  };
}
