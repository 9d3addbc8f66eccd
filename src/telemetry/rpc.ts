/**
 * Per-call telemetry: the `rpc.server.call.duration` histogram, and a span
 * per RPC that continues the caller's W3C trace (`traceparent`) — its
 * context goes on the call's context values, so the run's spans nest in it.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type TextMapGetter } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { createContextKey } from "@connectrpc/connect";
import { OK, statusName, type CallObserver } from "../server/call-end.js";
import type { Telemetry } from "./telemetry.js";

export const traceContextKey = createContextKey<Context>(ROOT_CONTEXT, { description: "the RPC's trace context" });

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

export function rpcTelemetry(telemetry: Telemetry): CallObserver {
  return (info) => {
    let span: ReturnType<Telemetry["tracer"]["startSpan"]> | undefined;
    if (telemetry.tracing) {
      const parent = propagator.extract(ROOT_CONTEXT, info.header, headerGetter);
      span = telemetry.tracer.startSpan(info.method, { kind: SpanKind.SERVER, attributes: { "rpc.system.name": info.system, "rpc.method": info.method } }, parent);
      info.contextValues.set(traceContextKey, trace.setSpan(parent, span));
    }
    return (code, durationS) => {
      const status = statusName(code);
      telemetry.rpcEnded(info.system, info.method, status, durationS);
      if (span) {
        span.setAttribute("rpc.status_code", status);
        if (code !== OK) span.setStatus({ code: SpanStatusCode.ERROR, message: status });
        span.end();
      }
    };
  };
}

