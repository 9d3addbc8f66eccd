/**
 * Repairs what a model step asked for before the agent acts on it: every
 * call gets an id (some servers send none, and results are paired by id),
 * and a call whose arguments are empty (`""` or absent, as servers send for
 * tools without parameters) is a call with `{}`, not an invalid call.
 * Calls whose arguments are not JSON stay invalid: they are never run.
 */
import { AIMessage, type InvalidToolCall, type ToolCall } from "@langchain/core/messages";
import { v7 as uuidv7 } from "uuid";

const newId = () => `call_${uuidv7().replace(/-/g, "")}`;

export function normalizeToolCalls(message: AIMessage): AIMessage {
  const calls = message.tool_calls ?? [];
  const invalid = message.invalid_tool_calls ?? [];
  const needsWork = calls.some((c) => !c.id) || invalid.some((c) => !c.id || (c.args ?? "").trim() === "");
  if (!needsWork) return message;

  const toolCalls: ToolCall[] = calls.map((c) => ({ ...c, id: c.id || newId() }));
  const stillInvalid: InvalidToolCall[] = [];
  for (const c of invalid) {
    const id = c.id || newId();
    if ((c.args ?? "").trim() === "" && c.name) toolCalls.push({ id, name: c.name, args: {}, type: "tool_call" });
    else stillInvalid.push({ ...c, id });
  }
  // Drop the provider's raw calls so a replay sends the repaired ones.
  const { tool_calls: _raw, ...additional } = message.additional_kwargs;
  return new AIMessage({
    content: message.content,
    id: message.id,
    name: message.name,
    tool_calls: toolCalls,
    invalid_tool_calls: stillInvalid,
    usage_metadata: message.usage_metadata,
    response_metadata: message.response_metadata,
    additional_kwargs: additional,
  });
}
