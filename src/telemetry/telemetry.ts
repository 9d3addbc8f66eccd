/**
 * Metrics and traces, with OpenTelemetry: the GenAI semantic conventions for
 * model and tool calls, the RPC conventions for calls, and Parley's own
 * gauges (streams, runs, breakers). Attributes are bounded by construction:
 * method, model, tool, dependency, status, end reason, event type — never a
 * conversation, run, user or key.
 *
 * The providers belong to the app (not registered globally), so several
 * apps in one process — tests, benchmarks — keep their own numbers; the
 * composition root creates one and passes it on.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { trace, type Attributes, type Counter, type Histogram, type Meter, type Tracer } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { FIRST_CHUNK_BUCKETS, RPC_BUCKETS, TOKEN_BUCKETS, TOOL_BUCKETS, TURN_BUCKETS } from "./buckets.js";

export interface TelemetryOptions {
  serviceVersion: string;
  /** OTLP/HTTP endpoint for pushed metrics and traces; none: Prometheus pull only, no traces. */
  otlpEndpoint?: string | undefined;
}

/** Read at collection time, so hot paths pay nothing for them. */
export interface Gauges {
  activeStreams(): number;
  activeRuns(): number;
  breakers(): Array<{ dependency: string; state: "closed" | "open" | "half_open" }>;
  bulkheadRejections(): number;
}

export interface ModelCallRecord {
  model: string;
  provider: string;
  durationS: number;
  firstChunkS: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  errorType: string | null;
}

const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export class Telemetry {
  readonly tracer: Tracer;
  private readonly meterProvider: MeterProvider;
  private readonly tracerProvider: BasicTracerProvider | null;
  private readonly prometheus: PrometheusExporter;
  private readonly rpcDuration: Histogram;
  private readonly tokenUsage: Histogram;
  private readonly operationDuration: Histogram;
  private readonly firstChunk: Histogram;
  private readonly toolDuration: Histogram;
  private readonly runDuration: Histogram;
  /** Counted in plain numbers and read at collection: this is the per-event hot path. */
  private readonly eventCounts = new Map<string, number>();
  private readonly breakerTransitions: Counter;

  constructor(opts: TelemetryOptions, gauges: Gauges) {
    const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: "parley", [ATTR_SERVICE_VERSION]: opts.serviceVersion });
    this.prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    const readers: MetricReader[] = [this.prometheus];
    if (opts.otlpEndpoint) {
      readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, "")}/v1/metrics` }), exportIntervalMillis: 15_000 }));
    }
    this.meterProvider = new MeterProvider({ resource, readers });
    if (opts.otlpEndpoint) {
      this.tracerProvider = new BasicTracerProvider({
        resource,
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, "")}/v1/traces` }))],
      });
      this.tracer = this.tracerProvider.getTracer("parley", opts.serviceVersion);
    } else {
      this.tracerProvider = null;
      // The API's no-op tracer: spans cost next to nothing when traces are off.
      this.tracer = trace.getTracer("parley-noop");
    }
    const meter: Meter = this.meterProvider.getMeter("parley", opts.serviceVersion);

    this.rpcDuration = meter.createHistogram("rpc.server.call.duration", { unit: "s", description: "Duration of RPCs, streams to their end", advice: { explicitBucketBoundaries: RPC_BUCKETS } });
    this.tokenUsage = meter.createHistogram("gen_ai.client.token.usage", { unit: "{token}", description: "Tokens used per model call", advice: { explicitBucketBoundaries: TOKEN_BUCKETS } });
    this.operationDuration = meter.createHistogram("gen_ai.client.operation.duration", { unit: "s", description: "Duration of model calls", advice: { explicitBucketBoundaries: TURN_BUCKETS } });
    this.firstChunk = meter.createHistogram("gen_ai.client.operation.time_to_first_chunk", { unit: "s", description: "Time from a model call's start to its first chunk", advice: { explicitBucketBoundaries: FIRST_CHUNK_BUCKETS } });
    this.toolDuration = meter.createHistogram("gen_ai.execute_tool.duration", { unit: "s", description: "Duration of tool calls", advice: { explicitBucketBoundaries: TOOL_BUCKETS } });
    this.runDuration = meter.createHistogram("parley.run.duration", { unit: "s", description: "Duration of agent runs (turns), by end reason", advice: { explicitBucketBoundaries: TURN_BUCKETS } });
    meter.createObservableCounter("parley.events.sent", { unit: "{event}", description: "Run events sent to callers, by type" }).addCallback((r) => {
      for (const [type, n] of this.eventCounts) r.observe(n, { "parley.event.type": type });
    });
    this.breakerTransitions = meter.createCounter("parley.breaker.transitions", { unit: "{transition}", description: "Circuit breaker state changes" });

    meter.createObservableUpDownCounter("parley.streams.active", { unit: "{stream}", description: "Open StreamMessage calls" }).addCallback((r) => r.observe(gauges.activeStreams()));
    meter.createObservableUpDownCounter("parley.runs.active", { unit: "{run}", description: "Runs in flight" }).addCallback((r) => r.observe(gauges.activeRuns()));
    meter.createObservableGauge("parley.breaker.state", { unit: "1", description: "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open" }).addCallback((r) => {
      for (const b of gauges.breakers()) r.observe(BREAKER_STATE_VALUE[b.state], { "parley.dependency": b.dependency });
    });
    meter.createObservableCounter("parley.bulkhead.rejections", { unit: "{call}", description: "Model calls refused because the bulkhead was full" }).addCallback((r) => r.observe(gauges.bulkheadRejections()));
    meter.createObservableCounter("process.cpu.time", { unit: "s", description: "CPU time of the process" }).addCallback((r) => {
      const u = process.cpuUsage();
      r.observe(u.user / 1e6, { "cpu.mode": "user" });
      r.observe(u.system / 1e6, { "cpu.mode": "system" });
    });
    meter.createObservableUpDownCounter("process.memory.usage", { unit: "By", description: "Resident set size of the process" }).addCallback((r) => r.observe(process.memoryUsage.rss()));
  }

  rpcEnded(system: string, method: string, statusCode: string, durationS: number): void {
    this.rpcDuration.record(durationS, { "rpc.system.name": system, "rpc.method": method, "rpc.status_code": statusCode });
  }

  runEnded(endReason: string, model: string, durationS: number): void {
    this.runDuration.record(durationS, { "parley.end_reason": endReason, "gen_ai.request.model": model });
  }

  eventSent(type: string): void {
    this.eventCounts.set(type, (this.eventCounts.get(type) ?? 0) + 1);
  }

  modelCall(r: ModelCallRecord): void {
    const attrs: Attributes = { "gen_ai.operation.name": "chat", "gen_ai.provider.name": r.provider, "gen_ai.request.model": r.model, ...(r.errorType ? { "error.type": r.errorType } : {}) };
    this.operationDuration.record(r.durationS, attrs);
    if (r.firstChunkS !== null) this.firstChunk.record(r.firstChunkS, attrs);
    if (r.inputTokens !== null) this.tokenUsage.record(r.inputTokens, { ...attrs, "gen_ai.token.type": "input" });
    if (r.outputTokens !== null) this.tokenUsage.record(r.outputTokens, { ...attrs, "gen_ai.token.type": "output" });
  }

  toolCall(tool: string, durationS: number, errorType: string | null): void {
    this.toolDuration.record(durationS, { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, ...(errorType ? { "error.type": errorType } : {}) });
  }

  breakerTransition(dependency: string, from: string, to: string): void {
    this.breakerTransitions.add(1, { "parley.dependency": dependency, "parley.breaker.from": from, "parley.breaker.to": to });
  }

  /** Serves the Prometheus text format. */
  metricsHandler(req: IncomingMessage, res: ServerResponse): void {
    this.prometheus.getMetricsRequestHandler(req, res);
  }

  get tracing(): boolean {
    return this.tracerProvider !== null;
  }

  /** Flushes what is pending (OTLP) and stops the providers. */
  async shutdown(): Promise<void> {
    await Promise.allSettled([this.meterProvider.shutdown(), this.tracerProvider?.shutdown()]);
  }
}
