/**
 * The agent middleware of a turn. Around each model call: the model's
 * resilience policy (bulkhead, retry before the first token, circuit
 * breaker, first-token and idle timeouts), the fallback model, repair of
 * the step's tool calls, and the step's report to the turn's hooks. Around
 * each tool call: the tool's policy (time limit, breaker), with failures
 * turned into error results the model sees.
 *
 * The hooks arrive per invocation in `configurable`, so one compiled agent
 * serves every turn.
 */
import { createMiddleware } from "langchain";
import { ToolMessage, type AIMessage } from "@langchain/core/messages";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { messageText } from "./message-text.js";
import { CircuitOpenError, ModelTimeoutError, RetryBudgetError } from "../resilience/errors.js";
import { classifyFailure, describeFailure } from "../resilience/failure.js";
import type { PolicyRegistry } from "../resilience/registry.js";
import type { CallOptions } from "../resilience/model-policy.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { normalizeToolCalls } from "./tool-call-normalizer.js";
import type { ParsedToolCall, TurnHooks } from "./turn-hooks.js";
import { estimateUsage, reportedUsage } from "./usage.js";

export const HOOKS_KEY = "parleyTurnHooks";

export interface TurnMiddlewareOptions {
  policies: PolicyRegistry;
  telemetry: Telemetry;
  /** gen_ai.provider.name: "openai", or "parley" for the offline model. */
  provider: string;
  /** The model this agent calls. */
  modelName: string;
  /** Serves the step when the primary's circuit is open or it failed before its first token. */
  fallback?: { name: string; model: BaseChatModel };
}

function hooksOf(runtime: { configurable?: Record<string, unknown> }): TurnHooks | undefined {
  return runtime.configurable?.[HOOKS_KEY] as TurnHooks | undefined;
}


function parsedToolCalls(message: AIMessage): ParsedToolCall[] {
  const valid: ParsedToolCall[] = (message.tool_calls ?? []).map((c) => ({ id: c.id ?? "", name: c.name, args: c.args }));
  const invalid: ParsedToolCall[] = (message.invalid_tool_calls ?? []).map((c) => ({
    id: c.id ?? "",
    name: c.name ?? "",
    args: null,
    error: c.error ?? "the arguments are not a valid JSON object",
  }));
  return [...valid, ...invalid];
}

function finishReasonOf(message: AIMessage, calls: ParsedToolCall[]): string {
  // Providers disagree with themselves ("stop" after tool calls); the content decides. Calls that
  // will never run (arguments not JSON) don't make a tool step: the provider's reason (often "length") stands.
  if (calls.some((c) => c.args !== null)) return "tool_calls";
  const reported = message.response_metadata?.["finish_reason"];
  return typeof reported === "string" && reported !== "tool_calls" ? reported : "stop";
}


/** Failures after which the fallback may serve: the primary is down, not the request bad. */
function fallbackWorthy(err: unknown): boolean {
  return err instanceof CircuitOpenError || err instanceof ModelTimeoutError || err instanceof RetryBudgetError || classifyFailure(err).failure;
}

const neverAborted = new AbortController().signal;

export function createTurnMiddleware(opts: TurnMiddlewareOptions) {
  const { policies, modelName, fallback, telemetry, provider } = opts;

  /** One model call under its policy, as a `chat {model}` span and GenAI metrics. */
  async function callModel(name: string, hooks: TurnHooks | undefined, call: CallOptions, invoke: () => Promise<AIMessage>): Promise<AIMessage> {
    const started = performance.now();
    let firstChunkS: number | null = null;
    const span = telemetry.tracer.startSpan(
      `chat ${name}`,
      { kind: SpanKind.CLIENT, attributes: { "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": name } },
      hooks?.traceContext,
    );
    try {
      const response = await policies.model(name).execute(invoke, {
        ...call,
        onFirstChunk: () => (firstChunkS = (performance.now() - started) / 1000),
      });
      const usage = response.usage_metadata;
      telemetry.modelCall({ model: name, provider, durationS: (performance.now() - started) / 1000, firstChunkS, inputTokens: usage?.input_tokens ?? null, outputTokens: usage?.output_tokens ?? null, errorType: null });
      if (usage) span.setAttributes({ "gen_ai.usage.input_tokens": usage.input_tokens, "gen_ai.usage.output_tokens": usage.output_tokens });
      const finish = response.response_metadata?.["finish_reason"];
      if (typeof finish === "string") span.setAttribute("gen_ai.response.finish_reasons", [finish]);
      return response;
    } catch (err) {
      const errorType = describeFailure(err);
      telemetry.modelCall({ model: name, provider, durationS: (performance.now() - started) / 1000, firstChunkS, inputTokens: null, outputTokens: null, errorType });
      span.setAttribute("error.type", errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
      throw err;
    } finally {
      span.end();
    }
  }

  return createMiddleware({
    name: "ParleyTurn",
    wrapModelCall: async (request, handler) => {
      const hooks = hooksOf(request.runtime);
      await hooks?.stepStart();
      const signal = request.runtime.signal ?? neverAborted;
      const call: CallOptions = {
        signal,
        deadlineAt: hooks?.deadlineAt ?? Number.POSITIVE_INFINITY,
        outputSent: () => hooks?.outputSent() ?? false,
        onRetry: (r: { attempt: number; delayMs: number; reason: string }) =>
          void hooks?.debug("retry", `retry ${r.attempt} of ${modelName} after ${r.reason}, in ${r.delayMs} ms`, { dependency: `model:${modelName}`, attempt: String(r.attempt), delay_ms: String(r.delayMs), reason: r.reason }),
      };
      const started = performance.now();
      let served = modelName;
      let response: AIMessage;
      try {
        response = await callModel(modelName, hooks, call, async () => handler(request));
      } catch (err) {
        if (!fallback || signal.aborted || call.outputSent() || !fallbackWorthy(err)) throw err;
        served = fallback.name;
        const reason = describeFailure(err);
        await hooks?.debug("fallback", `${modelName} failed (${reason}); ${fallback.name} serves the step`, { from: modelName, to: fallback.name, reason });
        response = await callModel(fallback.name, hooks, call, async () => handler({ ...request, model: fallback.model }));
      }
      response = normalizeToolCalls(response);
      if (hooks) {
        const calls = parsedToolCalls(response);
        const usage =
          reportedUsage(response) ??
          (await estimateUsage([...(request.systemMessage ? [request.systemMessage] : []), ...request.messages], response));
        await hooks.debug("model_call", `${served} answered in ${Math.round(performance.now() - started)} ms`, {
          dependency: `model:${served}`,
          duration_ms: String(Math.round(performance.now() - started)),
          breaker_state: policies.model(served).breaker.state,
        });
        await hooks.stepEnd({
          message: response,
          text: messageText(response),
          toolCalls: calls,
          usage,
          finishReason: finishReasonOf(response, calls),
          model: served,
        });
      }
      return response;
    },
    wrapToolCall: async (request, handler) => {
      const hooks = hooksOf(request.runtime);
      const startedAt = performance.now();
      const call = request.toolCall;
      const signal = request.runtime.signal ?? neverAborted;
      const span = telemetry.tracer.startSpan(
        `execute_tool ${call.name}`,
        { kind: SpanKind.INTERNAL, attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id ?? "" } },
        hooks?.traceContext,
      );
      let result: ToolMessage;
      try {
        const out = await policies.tool(call.name).execute(call.name, signal, () => Promise.resolve(handler(request)));
        if (!ToolMessage.isInstance(out)) return out;
        result = out;
      } catch (err) {
        if (signal.aborted) {
          span.end();
          throw err;
        }
        const message = err instanceof CircuitOpenError ? `the ${call.name} tool is unavailable (circuit open)` : err instanceof Error ? err.message : String(err);
        result = new ToolMessage({ content: `Error: ${message}`, tool_call_id: call.id ?? "", name: call.name, status: "error" });
      }
      const durationMs = performance.now() - startedAt;
      const isError = result.status === "error";
      telemetry.toolCall(call.name, durationMs / 1000, isError ? "tool_error" : null);
      if (isError) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      await hooks?.toolEnd({ callId: call.id ?? "", name: call.name, content: messageText(result), isError, durationMs });
      return result;
    },
  });
}
