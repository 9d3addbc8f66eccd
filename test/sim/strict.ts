/**
 * The real API's refusal of a broken tool-call history. Parley must never
 * send one, and a lenient fake would hide it when it does.
 */
import type { ChatRequest } from "./wire.js";

export interface HistoryError {
  message: string;
  param: string;
}

export function checkToolPairing(messages: ChatRequest["messages"]): HistoryError | null {
  // The latest assistant turn's calls not yet answered; answering removes an id, so a repeated answer is caught too.
  let pending: { index: number; ids: Set<string> } | null = null;
  for (const [i, m] of messages.entries()) {
    if (m.role === "tool") {
      if (!pending?.ids.delete(m.tool_call_id)) {
        return {
          // Sic: the real API spells it "preceeding".
          message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          param: `messages.[${i}].role`,
        };
      }
      continue;
    }
    if (pending && pending.ids.size > 0) return unanswered(pending.index, pending.ids);
    pending = m.role === "assistant" && m.tool_calls?.length ? { index: i, ids: new Set(m.tool_calls.map((c) => c.id)) } : null;
  }
  if (pending && pending.ids.size > 0) return unanswered(pending.index, pending.ids);
  return null;
}

function unanswered(index: number, ids: Set<string>): HistoryError {
  return {
    message:
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
      `The following tool_call_ids did not have response messages: ${[...ids].join(", ")}`,
    param: `messages.[${index}].role`,
  };
}
