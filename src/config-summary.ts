/** The effective configuration as operators may see it: no secret, only whether one is set. */
import type { Config } from "./config.js";

export function configSummary(c: Config): Record<string, string> {
  const r = c.resilience;
  return {
    host: c.host,
    port: String(c.port),
    database: c.databaseUrl.replace(/\/\/[^@/]*@/, "//***@"),
    auth: c.auth,
    api_keys: String(c.apiKeys.length),
    provider: c.provider,
    model: c.model,
    allowed_models: c.allowedModels.join(","),
    openai_base_url: c.openai.baseUrl ?? "",
    openai_api_key: c.openai.apiKey ? "set" : "unset",
    fallback_model: c.fallback?.model ?? "",
    turn_timeout_ms: String(c.turnTimeoutMs),
    tool_timeout_ms: String(c.toolTimeoutMs),
    first_token_timeout_ms: String(r.firstTokenTimeoutMs),
    idle_timeout_ms: String(r.idleTimeoutMs),
    breaker: r.breaker.kind === "sampling" ? `sampling ${r.breaker.sampling.threshold} over ${r.breaker.sampling.windowMs} ms` : `${r.breaker.failures} consecutive failures`,
    breaker_half_open_ms: `${r.breaker.halfOpenMs}..${r.breaker.halfOpenMaxMs}`,
    breaker_successes: String(r.breaker.successes),
    retries: String(r.retries),
    model_concurrency: `${r.bulkhead.limit} (+${r.bulkhead.queue} queued)`,
    stream_buffer_bytes: String(c.streamBufferBytes),
    heartbeat_ms: String(c.heartbeatMs),
  };
}
