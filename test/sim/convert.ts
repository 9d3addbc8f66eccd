/** The request's OpenAI messages in the offline script's terms. */
import { tokenize, type ScriptMessage, type ScriptToolCall } from "../../src/agent/offline/script.js";
import type { ChatRequest, WireContent, WireToolCall } from "./wire.js";

export function textOf(content: WireContent): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => ("text" in p && typeof p.text === "string" ? p.text : "")).join("");
}

function argsOf(call: WireToolCall): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(call.function.arguments);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    // A model may have written broken arguments; the script only reads them to phrase its answer.
    return {};
  }
}

export function toScriptMessages(messages: ChatRequest["messages"]): ScriptMessage[] {
  // Tool messages carry only the call id on the wire; the script wants the tool's name too.
  const calls = new Map<string, ScriptToolCall>();
  return messages.map((m): ScriptMessage => {
    switch (m.role) {
      case "system":
      case "developer":
        return { role: "system", content: textOf(m.content) };
      case "user":
        return { role: "user", content: textOf(m.content) };
      case "assistant": {
        const toolCalls = (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, args: argsOf(c) }));
        for (const c of toolCalls) calls.set(c.id, c);
        return { role: "assistant", content: textOf(m.content), toolCalls };
      }
      case "tool":
        return { role: "tool", content: textOf(m.content), toolCallId: m.tool_call_id, toolName: calls.get(m.tool_call_id)?.name ?? "" };
    }
  });
}

export const toolNamesOf = (req: ChatRequest): string[] => (req.tools ?? []).map((t) => t.function.name);

export const promptTokens = (req: ChatRequest): number => req.messages.reduce((n, m) => n + tokenize(textOf(m.content)).length, 0);
