/**
 * Configuration from environment variables, validated once at start-up so a
 * typo fails loudly instead of running on a silent default.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { z } from "zod";
import type { ResilienceOptions } from "./resilience/registry.js";
import { parseDatabaseUrl } from "./store/sqlite.js";

export type ProviderKind = "offline" | "openai";

export interface ApiKeyEntry {
  key: string;
  tenant: string;
  admin: boolean;
}

export interface Config {
  host: string;
  port: number;
  databaseUrl: string;
  /** "keys" checks bearer keys; "none" trusts every caller as the local tenant. */
  auth: "keys" | "none";
  apiKeys: ApiKeyEntry[];
  provider: ProviderKind;
  /** Why the provider was chosen, for the start-up log. */
  providerReason: string;
  model: string;
  allowedModels: string[];
  openai: { apiKey: string | undefined; baseUrl: string | undefined };
  offlineTokenDelayMs: number;
  turnTimeoutMs: number;
  heartbeatMs: number;
  /** Bytes of undelivered events a stream may hold before the run waits for its reader. */
  streamBufferBytes: number;
  /** How long a run may wait on a reader that does not drain before it is ended. */
  slowReaderTimeoutMs: number;
  maxHistoryMessages: number;
  toolTimeoutMs: number;
  /** How long in-flight turns may finish after SIGTERM before they are cancelled. */
  shutdownGraceMs: number;
  /** A separate port for /metrics (and the HTTP probes); null serves them on the main port. */
  metricsPort: number | null;
  /** Log message content (debugging only; off by default). */
  logContent: boolean;
  /** OTLP push (metrics and traces) when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  otlpEndpoint: string | undefined;
  resilience: ResilienceOptions;
  /** Serves turns when the primary's circuit is open or it failed before its first token. */
  fallback: { model: string; baseUrl: string | undefined; apiKey: string | undefined } | null;
  logLevel: string;
  version: string;
}

// Decimal digits only: Number("0x100") would quietly read a hex port.
const intFrom = (min: number, max: number) =>
  z.string().regex(/^\d+$/, "must be a whole number").transform(Number).pipe(z.number().int().min(min).max(max));

const envSchema = z.object({
  PARLEY_HOST: z.string().min(1).default("127.0.0.1"),
  PARLEY_PORT: intFrom(0, 65535).default(50051),
  PARLEY_DATABASE_URL: z.string().min(1).default("sqlite:./data/parley.db"),
  PARLEY_AUTH: z.enum(["keys", "none"]).optional(),
  PARLEY_API_KEYS: z.string().optional(),
  PARLEY_API_KEYS_FILE: z.string().optional(),
  PARLEY_PROVIDER: z.enum(["offline", "openai"]).optional(),
  PARLEY_MODEL: z.string().min(1).max(128).optional(),
  PARLEY_ALLOWED_MODELS: z.string().optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  PARLEY_OFFLINE_TOKEN_DELAY_MS: intFrom(0, 10_000).default(15),
  PARLEY_TURN_TIMEOUT_MS: intFrom(100, 3_600_000).default(30_000),
  PARLEY_HEARTBEAT_MS: intFrom(100, 600_000).default(15_000),
  PARLEY_STREAM_BUFFER_BYTES: intFrom(1024, 64 * 1024 * 1024).default(256 * 1024),
  PARLEY_SLOW_READER_TIMEOUT_MS: intFrom(10, 600_000).default(30_000),
  PARLEY_MAX_HISTORY_MESSAGES: intFrom(1, 100_000).default(200),
  PARLEY_TOOL_TIMEOUT_MS: intFrom(10, 600_000).default(10_000),
  PARLEY_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  PARLEY_SHUTDOWN_GRACE_MS: intFrom(0, 3_600_000).default(25_000),
  PARLEY_METRICS_PORT: intFrom(0, 65535).optional(),
  PARLEY_LOG_CONTENT: z.enum(["true", "false"]).default("false"),
  PARLEY_BREAKER_KIND: z.enum(["consecutive", "sampling"]).default("consecutive"),
  PARLEY_BREAKER_FAILURES: intFrom(1, 1000).default(5),
  PARLEY_BREAKER_SAMPLING_THRESHOLD: z.coerce.number().gt(0).max(1).default(0.5),
  PARLEY_BREAKER_SAMPLING_WINDOW_MS: intFrom(1000, 3_600_000).default(30_000),
  PARLEY_BREAKER_SAMPLING_MIN_RPS: z.coerce.number().min(0).default(1),
  PARLEY_BREAKER_HALF_OPEN_MS: intFrom(10, 3_600_000).default(60_000),
  PARLEY_BREAKER_HALF_OPEN_MAX_MS: intFrom(10, 24 * 3_600_000).default(300_000),
  PARLEY_BREAKER_SUCCESSES: intFrom(1, 100).default(2),
  PARLEY_RETRY_MAX: intFrom(0, 10).default(2),
  PARLEY_RETRY_BASE_MS: intFrom(1, 60_000).default(250),
  PARLEY_RETRY_MAX_DELAY_MS: intFrom(1, 600_000).default(4000),
  PARLEY_FIRST_TOKEN_TIMEOUT_MS: intFrom(10, 3_600_000).default(20_000),
  PARLEY_IDLE_TIMEOUT_MS: intFrom(10, 3_600_000).default(20_000),
  PARLEY_MODEL_CONCURRENCY: intFrom(1, 100_000).default(64),
  PARLEY_MODEL_QUEUE: intFrom(0, 1_000_000).default(256),
  PARLEY_FALLBACK_MODEL: z.string().min(1).max(128).optional(),
  PARLEY_FALLBACK_BASE_URL: z.string().url().optional(),
  PARLEY_FALLBACK_API_KEY: z.string().optional(),
});

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses `key1=tenantA,key2=tenantB:admin` (commas or newlines). */
export function parseApiKeys(text: string): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const item = raw.trim();
    if (item === "" || item.startsWith("#")) continue;
    const eq = item.indexOf("=");
    if (eq <= 0 || eq === item.length - 1) {
      // Never echo the item: it holds a secret.
      throw new ConfigError(`PARLEY_API_KEYS: entry ${entries.length + 1} is not of the form key=tenant[:admin]`);
    }
    const key = item.slice(0, eq).trim();
    const [tenant = "", role] = item.slice(eq + 1).trim().split(":");
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
      throw new ConfigError(`PARLEY_API_KEYS: entry ${entries.length + 1} has an invalid tenant (1-64 of A-Z a-z 0-9 _ . -)`);
    }
    if (role !== undefined && role !== "admin") {
      throw new ConfigError(`PARLEY_API_KEYS: entry ${entries.length + 1} has an unknown role (only ":admin")`);
    }
    if (key.length < 8) throw new ConfigError(`PARLEY_API_KEYS: entry ${entries.length + 1} has a key shorter than 8 characters`);
    if (entries.some((e) => e.key === key)) {
      // The last entry would win silently — possibly granting admin: refuse instead.
      throw new ConfigError(`PARLEY_API_KEYS: entry ${entries.length + 1} repeats an earlier key`);
    }
    entries.push({ key, tenant, admin: role === "admin" });
  }
  return entries;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, version = "0.0.0"): Config {
  // A variable set to nothing (`PARLEY_PORT=` in a compose file or a ConfigMap) means "not set".
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""));
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;

  let keysText = e.PARLEY_API_KEYS ?? "";
  if (e.PARLEY_API_KEYS_FILE) {
    try {
      keysText += "\n" + readFileSync(e.PARLEY_API_KEYS_FILE, "utf8");
    } catch {
      throw new ConfigError(`PARLEY_API_KEYS_FILE: cannot read ${e.PARLEY_API_KEYS_FILE}`);
    }
  }
  const apiKeys = parseApiKeys(keysText);
  try {
    parseDatabaseUrl(e.PARLEY_DATABASE_URL);
  } catch (err) {
    throw new ConfigError(`PARLEY_DATABASE_URL: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (e.PARLEY_METRICS_PORT !== undefined && e.PARLEY_METRICS_PORT !== 0 && e.PARLEY_METRICS_PORT === e.PARLEY_PORT) {
    throw new ConfigError("PARLEY_METRICS_PORT: must differ from PARLEY_PORT (leave it unset to serve /metrics on the main port)");
  }
  const auth = e.PARLEY_AUTH ?? "keys";
  if (auth === "keys" && apiKeys.length === 0 && !isLoopback(e.PARLEY_HOST)) {
    throw new ConfigError(
      `refusing to listen on ${e.PARLEY_HOST} without API keys: set PARLEY_API_KEYS, or PARLEY_AUTH=none to accept unauthenticated callers`,
    );
  }

  let provider: ProviderKind;
  let providerReason: string;
  if (e.PARLEY_PROVIDER) {
    provider = e.PARLEY_PROVIDER;
    providerReason = "PARLEY_PROVIDER";
  } else if (e.OPENAI_API_KEY || e.OPENAI_BASE_URL) {
    provider = "openai";
    providerReason = e.OPENAI_BASE_URL ? "OPENAI_BASE_URL is set" : "OPENAI_API_KEY is set";
  } else {
    provider = "offline";
    providerReason = "no OPENAI_API_KEY or OPENAI_BASE_URL";
  }
  if (provider === "openai" && !e.OPENAI_API_KEY && !e.OPENAI_BASE_URL) {
    throw new ConfigError("PARLEY_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)");
  }

  const model = e.PARLEY_MODEL ?? (provider === "offline" ? "parley-offline" : "gpt-4o-mini");
  const allowedModels = [
    model,
    ...(e.PARLEY_ALLOWED_MODELS ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "" && m !== model),
  ];

  return {
    host: e.PARLEY_HOST,
    port: e.PARLEY_PORT,
    databaseUrl: e.PARLEY_DATABASE_URL,
    auth,
    apiKeys,
    provider,
    providerReason,
    model,
    allowedModels,
    openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
    offlineTokenDelayMs: e.PARLEY_OFFLINE_TOKEN_DELAY_MS,
    turnTimeoutMs: e.PARLEY_TURN_TIMEOUT_MS,
    heartbeatMs: e.PARLEY_HEARTBEAT_MS,
    streamBufferBytes: e.PARLEY_STREAM_BUFFER_BYTES,
    slowReaderTimeoutMs: e.PARLEY_SLOW_READER_TIMEOUT_MS,
    maxHistoryMessages: e.PARLEY_MAX_HISTORY_MESSAGES,
    toolTimeoutMs: e.PARLEY_TOOL_TIMEOUT_MS,
    shutdownGraceMs: e.PARLEY_SHUTDOWN_GRACE_MS,
    metricsPort: e.PARLEY_METRICS_PORT ?? null,
    logContent: e.PARLEY_LOG_CONTENT === "true",
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    resilience: {
      breaker: {
        kind: e.PARLEY_BREAKER_KIND,
        failures: e.PARLEY_BREAKER_FAILURES,
        sampling: { threshold: e.PARLEY_BREAKER_SAMPLING_THRESHOLD, windowMs: e.PARLEY_BREAKER_SAMPLING_WINDOW_MS, minimumRps: e.PARLEY_BREAKER_SAMPLING_MIN_RPS },
        halfOpenMs: e.PARLEY_BREAKER_HALF_OPEN_MS,
        halfOpenMaxMs: Math.max(e.PARLEY_BREAKER_HALF_OPEN_MAX_MS, e.PARLEY_BREAKER_HALF_OPEN_MS),
        successes: e.PARLEY_BREAKER_SUCCESSES,
      },
      retries: e.PARLEY_RETRY_MAX,
      retryBaseMs: e.PARLEY_RETRY_BASE_MS,
      retryMaxDelayMs: e.PARLEY_RETRY_MAX_DELAY_MS,
      firstTokenTimeoutMs: e.PARLEY_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: e.PARLEY_IDLE_TIMEOUT_MS,
      bulkhead: { limit: e.PARLEY_MODEL_CONCURRENCY, queue: e.PARLEY_MODEL_QUEUE },
      // A tool's breaker opens on repeated timeouts only, with the same recovery schedule.
      toolBreaker: {
        kind: "consecutive",
        failures: e.PARLEY_BREAKER_FAILURES,
        sampling: { threshold: 0.5, windowMs: 30_000, minimumRps: 1 },
        halfOpenMs: e.PARLEY_BREAKER_HALF_OPEN_MS,
        halfOpenMaxMs: Math.max(e.PARLEY_BREAKER_HALF_OPEN_MAX_MS, e.PARLEY_BREAKER_HALF_OPEN_MS),
        successes: e.PARLEY_BREAKER_SUCCESSES,
      },
      toolTimeoutMs: e.PARLEY_TOOL_TIMEOUT_MS,
    },
    fallback: e.PARLEY_FALLBACK_MODEL ? { model: e.PARLEY_FALLBACK_MODEL, baseUrl: e.PARLEY_FALLBACK_BASE_URL, apiKey: e.PARLEY_FALLBACK_API_KEY } : null,
    logLevel: e.PARLEY_LOG_LEVEL,
    version,
  };
}
