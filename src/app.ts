/**
 * The composition root: builds every dependency from the configuration and
 * wires them. Nothing else constructs services or reaches for globals.
 */
import * as grpc from "@grpc/grpc-js";
import { createValidator } from "@bufbuild/protovalidate";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import type { Logger } from "pino";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { ConversationService, file_parley_v1_conversation_service } from "../gen/parley/v1/conversation_service_pb.js";
import { AdminService, file_parley_v1_admin_service } from "../gen/parley/v1/admin_service_pb.js";
import { file_grpc_health_v1_health, Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import type { Config } from "./config.js";
import { AgentRunner } from "./agent/agent.js";
import { offlineModels, openaiModels, type ModelFactory } from "./agent/models.js";
import type { OfflineModelStats } from "./agent/offline/model.js";
import { builtinTools } from "./agent/tools/registry.js";
import { Authenticator } from "./api/auth.js";
import { adminService } from "./api/admin-service.js";
import { conversationService } from "./api/conversation-service.js";
import { configSummary } from "./config-summary.js";
import { guard } from "./api/guard.js";
import { PolicyRegistry } from "./resilience/registry.js";
import { ActiveRuns } from "./runs/active-runs.js";
import { RunAbort } from "./runs/end-state.js";
import { TurnRunner } from "./runs/turn-runner.js";
import { createConnectHandler, type HttpHandler } from "./server/connect-handler.js";
import { addServicesToGrpcServer } from "./server/grpc-adapter.js";
import { HealthRegistry, healthService } from "./server/health.js";
import { startListener, type Listener } from "./server/listener.js";
import { mount, type MountedService } from "./server/mounted-service.js";
import { reflectionServices } from "./server/reflection.js";
import { observeCalls } from "./server/call-end.js";
import { callLog } from "./server/call-log.js";
import { probeRoutes } from "./server/http-routes.js";
import { startMetricsServer, type MetricsServer } from "./server/metrics-server.js";
import { rpcTelemetry } from "./telemetry/rpc.js";
import { Telemetry } from "./telemetry/telemetry.js";
import { Code } from "@connectrpc/connect";
import { apiError } from "./api/errors.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/store.js";

export interface App {
  readonly address: { host: string; port: number };
  /** The metrics port actually bound, or null (main port, or the port was taken). */
  readonly metricsPort: number | null;
  readonly store: Store;
  readonly health: HealthRegistry;
  readonly activeRuns: ActiveRuns;
  readonly policies: PolicyRegistry;
  readonly telemetry: Telemetry;
  /** Present with the offline provider: what the model really did. */
  readonly offlineStats: OfflineModelStats | undefined;
  /**
   * Graceful shutdown: NOT_SERVING at once, new calls UNAVAILABLE, in-flight
   * turns get `graceMs` to finish, the rest are cancelled with a retryable
   * error and stored; then connections close (GOAWAY), telemetry flushes.
   */
  drain(graceMs?: number): Promise<void>;
  /** drain(0). */
  close(): Promise<void>;
}

export interface AppOverrides {
  /** Replaces the configured provider (benchmarks, tests of provider paths). */
  models?: ModelFactory;
  now?: () => Date;
  /** Tools registered beside the built-in ones (tests: a tool that hangs or throws). */
  extraTools?: StructuredToolInterface[];
}

/** The fallback's endpoint: its own base URL and key when given, else the primary's. */
function fallbackModels(config: Config, primary: ModelFactory): ModelFactory {
  const fb = config.fallback;
  if (fb && (fb.baseUrl || config.provider === "openai")) {
    return openaiModels({ apiKey: fb.apiKey ?? config.openai.apiKey, baseUrl: fb.baseUrl ?? config.openai.baseUrl });
  }
  return primary;
}

/** Files whose descriptors reflection serves: our API, health, and the error details clients decode. */
const REFLECTED_FILES: GenFile[] = [file_parley_v1_conversation_service, file_parley_v1_admin_service, file_grpc_health_v1_health, file_google_rpc_error_details, file_google_rpc_status];

// What a run still gets to store itself after it was cancelled at the end of the grace.
const CANCEL_SETTLE_MS = 5_000;

export async function startApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  const store = await openStore(config.databaseUrl);
  const interrupted = await store.failInterruptedRuns(new Date());
  if (interrupted > 0) logger.warn({ runs: interrupted }, "marked runs left running by a previous process as failed");

  const activeRuns = new ActiveRuns();
  // The gauges read objects built after the telemetry that the policies and the runner report to.
  const late: { runner?: TurnRunner; policies?: PolicyRegistry } = {};
  const telemetry = new Telemetry(
    { serviceVersion: config.version, otlpEndpoint: config.otlpEndpoint },
    {
      activeStreams: () => late.runner?.activeStreams ?? 0,
      activeRuns: () => activeRuns.size,
      breakers: () => (late.policies?.list() ?? []).map((d) => ({ dependency: d.name, state: d.state })),
      bulkheadRejections: () => late.policies?.rejectedByBulkhead ?? 0,
    },
  );
  const policies = new PolicyRegistry(config.resilience, (dependency, change) => {
    telemetry.breakerTransition(dependency, change.from, change.to);
    logger.warn({ dependency, from: change.from, to: change.to, reason: change.reason }, "circuit breaker state changed");
  });
  late.policies = policies;

  const offline = config.provider === "offline" && !overrides.models ? offlineModels({ tokenDelayMs: config.offlineTokenDelayMs }) : undefined;
  const models = overrides.models ?? offline ?? openaiModels(config.openai);
  const tools = [...builtinTools({ now: overrides.now ?? (() => new Date()) }), ...(overrides.extraTools ?? [])];
  const fallback = config.fallback ? { name: config.fallback.model, model: fallbackModels(config, models).create({ model: config.fallback.model }) } : undefined;
  const agent = new AgentRunner(models, tools, policies, telemetry, fallback);
  const runner = new TurnRunner({
    store,
    agent,
    activeRuns,
    policies,
    telemetry,
    hasFallback: fallback !== undefined,
    logger,
    settings: {
      defaultModel: config.model,
      allowedModels: config.allowedModels,
      turnTimeoutMs: config.turnTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      streamBufferBytes: config.streamBufferBytes,
      slowReaderTimeoutMs: config.slowReaderTimeoutMs,
      maxHistoryMessages: config.maxHistoryMessages,
      logContent: config.logContent,
    },
  });
  late.runner = runner;

  let draining = false;
  const admit = () => {
    if (draining) throw apiError({ code: Code.Unavailable, message: "the server is shutting down; retry on another instance", reason: "SHUTTING_DOWN", retryDelayMs: 1000 });
  };
  const validator = createValidator();
  const auth = new Authenticator(config.apiKeys, config.auth);
  const health = new HealthRegistry();
  const admin = adminService({
    version: config.version,
    startedAt: Date.now(),
    store,
    policies,
    activeRuns,
    activeStreams: () => runner.activeStreams,
    configSummary: configSummary(config),
  });
  const services: MountedService[] = [
    mount(ConversationService, guard(ConversationService, conversationService({ store, runner, allowedModels: config.allowedModels }), { auth, validator, admit })),
    mount(AdminService, guard(AdminService, admin, { auth, validator })),
    mount(Health, guard(Health, healthService(health), { validator })),
    ...reflectionServices(REFLECTED_FILES),
  ];
  const interceptors = [observeCalls([callLog(logger), rpcTelemetry(telemetry)])];

  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const onInternalError = (err: unknown) => logger.error({ err }, "handler failed");
  addServicesToGrpcServer(grpcServer, services, { onInternalError, interceptors });

  const metricsRoute = (req: Parameters<Telemetry["metricsHandler"]>[0], res: Parameters<Telemetry["metricsHandler"]>[1]) => telemetry.metricsHandler(req, res);
  let metricsServer: MetricsServer | null = null;
  if (config.metricsPort !== null) metricsServer = await startMetricsServer(config.host, config.metricsPort, probeRoutes(health, metricsRoute), logger);
  const fallbackRoute = probeRoutes(health, config.metricsPort === null ? metricsRoute : null);
  // The listener hands connect-node HTTP/1.1 requests only, so its fallback sees IncomingMessage.
  const httpHandler = createConnectHandler({ services, interceptors, readMaxBytes: 4 * 1024 * 1024, fallback: fallbackRoute as HttpHandler });
  const listener: Listener = await startListener({ host: config.host, port: config.port, grpcServer, httpHandler, logger });

  health.set("", ServingStatus.SERVING);
  health.set(ConversationService.typeName, ServingStatus.SERVING);

  let drained: Promise<void> | null = null;
  async function drain(graceMs = config.shutdownGraceMs): Promise<void> {
    draining = true;
    health.shutdown();
    // Let open Watch streams deliver NOT_SERVING before they end.
    setImmediate(() => health.endWatches());
    const inFlight = activeRuns.list();
    if (inFlight.length > 0) {
      logger.info({ runs: inFlight.length, graceMs }, "draining: waiting for in-flight turns");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(inFlight.map((r) => r.done)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    const left = activeRuns.list();
    if (left.length > 0) {
      logger.warn({ runs: left.length }, "draining: grace time over, cancelling the remaining turns");
      for (const run of left) run.abort(new RunAbort("shutdown"));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(left.map((r) => r.done)), new Promise<void>((r) => (timer = setTimeout(r, CANCEL_SETTLE_MS)))]);
      clearTimeout(timer);
    }
    // Long enough for the turns' last events to be written before connections go.
    await listener.close(2_000);
    await metricsServer?.close();
    await telemetry.shutdown();
    await store.close();
  }

  return {
    address: listener.address(),
    metricsPort: metricsServer?.port ?? null,
    store,
    health,
    activeRuns,
    policies,
    telemetry,
    offlineStats: offline?.stats,
    drain: (graceMs) => (drained ??= drain(graceMs)),
    close: () => (drained ??= drain(0)),
  };
}
