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
import { createConnectHandler } from "./server/connect-handler.js";
import { addServicesToGrpcServer } from "./server/grpc-adapter.js";
import { HealthRegistry, healthService } from "./server/health.js";
import { startListener, type Listener } from "./server/listener.js";
import { mount, type MountedService } from "./server/mounted-service.js";
import { reflectionServices } from "./server/reflection.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/store.js";

export interface App {
  readonly address: { host: string; port: number };
  readonly store: Store;
  readonly health: HealthRegistry;
  readonly activeRuns: ActiveRuns;
  readonly policies: PolicyRegistry;
  /** Present with the offline provider: what the model really did. */
  readonly offlineStats: OfflineModelStats | undefined;
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

export async function startApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  const store = await openStore(config.databaseUrl);
  const interrupted = await store.failInterruptedRuns(new Date());
  if (interrupted > 0) logger.warn({ runs: interrupted }, "marked runs left running by a previous process as failed");

  const offline = config.provider === "offline" && !overrides.models ? offlineModels({ tokenDelayMs: config.offlineTokenDelayMs }) : undefined;
  const models = overrides.models ?? offline ?? openaiModels(config.openai);
  const tools = [...builtinTools({ now: overrides.now ?? (() => new Date()) }), ...(overrides.extraTools ?? [])];
  const policies = new PolicyRegistry(config.resilience, (dependency, change) =>
    logger.warn({ dependency, from: change.from, to: change.to, reason: change.reason }, "circuit breaker state changed"),
  );
  const fallback = config.fallback ? { name: config.fallback.model, model: fallbackModels(config, models).create({ model: config.fallback.model }) } : undefined;
  const agent = new AgentRunner(models, tools, policies, fallback);
  const activeRuns = new ActiveRuns();
  const runner = new TurnRunner({
    store,
    agent,
    activeRuns,
    policies,
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
    },
  });

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
    mount(ConversationService, guard(ConversationService, conversationService({ store, runner, allowedModels: config.allowedModels }), { auth, validator })),
    mount(AdminService, guard(AdminService, admin, { auth, validator })),
    mount(Health, guard(Health, healthService(health), { validator })),
    ...reflectionServices(REFLECTED_FILES),
  ];

  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const onInternalError = (err: unknown) => logger.error({ err }, "handler failed");
  addServicesToGrpcServer(grpcServer, services, { onInternalError });
  const httpHandler = createConnectHandler({ services, readMaxBytes: 4 * 1024 * 1024 });
  const listener: Listener = await startListener({ host: config.host, port: config.port, grpcServer, httpHandler, logger });

  health.set("", ServingStatus.SERVING);
  health.set(ConversationService.typeName, ServingStatus.SERVING);

  return {
    address: listener.address(),
    store,
    health,
    activeRuns,
    policies,
    offlineStats: offline?.stats,
    async close() {
      health.shutdown();
      health.endWatches();
      for (const run of activeRuns.list()) run.abort(new RunAbort("shutdown"));
      await Promise.all(activeRuns.list().map((r) => r.done));
      await listener.close();
      await store.close();
    },
  };
}
