/**
 * The agent middleware that reports each model step and tool call to the
 * turn's hooks (passed per invocation in `configurable`, so one compiled
 * agent serves every turn). Tool failures become error results here, so the
 * model sees them and the caller gets an `is_error` tool_result.
 */
import { createMiddleware } from "langchain";
import { ToolMessage, type AIMessage, type BaseMessage } from "@langchain/core/messages";
import { normalizeToolCalls } from "./tool-call-normalizer.js";
import { estimateUsage, reportedUsage } from "./usage.js";
import type { ParsedToolCall, TurnHooks } from "./turn-hooks.js";

export const HOOKS_KEY = "parleyTurnHooks";

function hooksOf(runtime: { configurable?: Record<string, unknown> }): TurnHooks | undefined {
  return runtime.configurable?.[HOOKS_KEY] as TurnHooks | undefined;
}

function textOf(m: BaseMessage): string {
  return typeof m.content === "string" ? m.content : m.text;
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
  // Providers disagree with themselves ("stop" after tool calls); the content decides.
  if (calls.length > 0) return "tool_calls";
  const reported = message.response_metadata?.["finish_reason"];
  return typeof reported === "string" && reported !== "tool_calls" ? reported : "stop";
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "ModelAbortError" || err.message === "Aborted");
}

export const turnMiddleware = createMiddleware({
  name: "ParleyTurn",
  wrapModelCall: async (request, handler) => {
    const hooks = hooksOf(request.runtime);
    await hooks?.stepStart();
    const response = normalizeToolCalls(await handler(request));
    if (hooks) {
      const calls = parsedToolCalls(response);
      const usage =
        reportedUsage(response) ??
        (await estimateUsage([...(request.systemMessage ? [request.systemMessage] : []), ...request.messages], response));
      const modelName = response.response_metadata?.["model_name"];
      await hooks.stepEnd({
        message: response,
        text: textOf(response),
        toolCalls: calls,
        usage,
        finishReason: finishReasonOf(response, calls),
        model: typeof modelName === "string" ? modelName : "",
      });
    }
    return response;
  },
  wrapToolCall: async (request, handler) => {
    const hooks = hooksOf(request.runtime);
    const started = performance.now();
    const call = request.toolCall;
    let result: ToolMessage;
    try {
      const out = await handler(request);
      if (!ToolMessage.isInstance(out)) return out;
      result = out;
    } catch (err) {
      if (isAbortError(err) || request.runtime.signal?.aborted) throw err;
      const message = err instanceof Error ? err.message : String(err);
      result = new ToolMessage({ content: `Error: ${message}`, tool_call_id: call.id ?? "", name: call.name, status: "error" });
    }
    await hooks?.toolEnd({
      callId: call.id ?? "",
      name: call.name,
      content: textOf(result),
      isError: result.status === "error",
      durationMs: performance.now() - started,
    });
    return result;
  },
});
