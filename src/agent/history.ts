/**
 * Stored messages to the model's input. Trimming keeps the newest messages
 * and never leaves a tool result without the assistant call that asked for
 * it (strict providers reject such a history).
 */
import { AIMessage, HumanMessage, SystemMessage, ToolMessage, type BaseMessage } from "@langchain/core/messages";
import type { MessageRecord } from "../store/store.js";

export function toLangChain(m: MessageRecord): BaseMessage {
  switch (m.role) {
    case "user":
      return new HumanMessage({ content: m.content, id: m.id });
    case "assistant":
      return new AIMessage({
        content: m.content,
        id: m.id,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, name: c.name, args: c.args ?? {}, type: "tool_call" as const })),
      });
    case "tool":
      return new ToolMessage({
        content: m.content,
        id: m.id,
        tool_call_id: m.toolCallId ?? "",
        name: m.toolName ?? undefined,
        status: m.isError ? "error" : "success",
      });
  }
}

/** The newest `max` messages, cut only at a user message so tool pairs stay whole. */
export function trimHistory(history: MessageRecord[], max: number): MessageRecord[] {
  if (history.length <= max) return history;
  let start = history.length - max;
  while (start < history.length && history[start]?.role !== "user") start++;
  // A single enormous turn: keep its user message rather than nothing.
  if (start >= history.length) {
    for (let i = history.length - 1; i >= 0; i--) if (history[i]?.role === "user") return history.slice(i);
  }
  return history.slice(start);
}

export function buildModelInput(systemPrompt: string, history: MessageRecord[], maxMessages: number): BaseMessage[] {
  const messages = trimHistory(history, maxMessages).map(toLangChain);
  return systemPrompt.trim() !== "" ? [new SystemMessage(systemPrompt), ...messages] : messages;
}
