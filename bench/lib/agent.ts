/**
 * The LangChain agent exactly as the server builds it (src/app.ts): the
 * offline models at a given pace, the built-in tools, a PolicyRegistry from
 * the same configuration, and the model input a first turn gets — but no
 * transport and no store. Used by the in-process and SSE baselines.
 */
import { context } from "@opentelemetry/api";
import { v7 as uuidv7 } from "uuid";
import { AgentRunner } from "../../src/agent/agent.js";
import { buildModelInput } from "../../src/agent/history.js";
import { offlineModels } from "../../src/agent/models.js";
import { builtinTools } from "../../src/agent/tools/registry.js";
import type { TurnHooks } from "../../src/agent/turn-hooks.js";
import { loadConfig } from "../../src/config.js";
import { PolicyRegistry } from "../../src/resilience/registry.js";
import { Telemetry } from "../../src/telemetry/telemetry.js";

/** The server's environment for every benchmark: the bulkhead must not be what is measured. */
export const BENCH_RESILIENCE_ENV = {
  PARLEY_MODEL_CONCURRENCY: "100000",
  PARLEY_MODEL_QUEUE: "1000000",
} as const;

export interface BenchAgent {
  runner: AgentRunner;
  model: string;
  tools: string[];
  /** Runs one first turn of `message`; `onText` gets every streamed delta. */
  turn(message: string, onText: (delta: string) => void | Promise<void>, signal?: AbortSignal): Promise<void>;
}

export function benchAgent(tokenDelayMs = 0): BenchAgent {
  const config = loadConfig({ PARLEY_OFFLINE_TOKEN_DELAY_MS: String(tokenDelayMs), PARLEY_LOG_LEVEL: "silent", ...BENCH_RESILIENCE_ENV });
  const models = offlineModels({ tokenDelayMs: config.offlineTokenDelayMs });
  const policies = new PolicyRegistry(config.resilience);
  // As the server builds it with no OTLP endpoint: Prometheus readers, the no-op tracer.
  const telemetry = new Telemetry(
    { serviceVersion: "bench" },
    { activeStreams: () => 0, activeRuns: () => 0, breakers: () => [], bulkheadRejections: () => 0 },
  );
  const runner = new AgentRunner(models, builtinTools({ now: () => new Date() }), policies, telemetry);
  const tools = runner.toolNames;
  const model = config.model;
  return {
    runner,
    model,
    tools,
    async turn(message, onText, signal) {
      const conversationId = uuidv7();
      const input = buildModelInput(
        "",
        [
          {
            id: uuidv7(), conversationId, role: "user", content: message, toolCalls: [], toolCallId: null, toolName: null,
            isError: false, runId: null, usage: null, finishReason: null, model: null, createTime: new Date(),
          },
        ],
        config.maxHistoryMessages,
      );
      let sent = false;
      const hooks: TurnHooks = {
        deadlineAt: Date.now() + config.turnTimeoutMs,
        traceContext: context.active(),
        stepStart: () => {
          sent = false;
        },
        text: (delta) => {
          sent = true;
          return onText(delta);
        },
        outputSent: () => sent,
        stepEnd: () => undefined,
        toolEnd: () => undefined,
        debug: () => undefined,
      };
      await runner.run({ messages: input, model: { model }, tools }, hooks, signal ?? new AbortController().signal);
    },
  };
}
