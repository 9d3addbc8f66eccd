/**
 * Decides, from the model's raw argument text, which tool calls of a step
 * are valid — LangChain's own reading is too lenient and too strict at once:
 * its partial-JSON parser turns arguments cut off mid-object into `{}` (so a
 * truncated call would run), and a call without an id lands among the
 * invalid calls even when its arguments are fine.
 *
 * The rules: every call gets an id (results are paired by id); empty
 * arguments (`""` or none, as servers send for tools without parameters)
 * mean `{}`; anything else must parse as a JSON object, or the call is
 * invalid and never runs.
 */
import { AIMessage, AIMessageChunk, type InvalidToolCall, type ToolCall, type ToolCallChunk } from "@langchain/core/messages";
import { newId } from "../ids.js";

const newCallId = () => `call_${newId().replace(/-/g, "")}`;

interface RawCall {
  id: string | undefined;
  name: string;
  args: string | undefined;
}

type Parsed = { ok: true; args: Record<string, unknown> } | { ok: false; error: string };

export function parseArguments(raw: string | undefined): Parsed {
  if (raw === undefined || raw.trim() === "") return { ok: true, args: {} };
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return { ok: true, args: value as Record<string, unknown> };
    return { ok: false, error: "the arguments are not a JSON object" };
  } catch {
    return { ok: false, error: "the arguments are not valid JSON (cut off or malformed)" };
  }
}

function rawCalls(message: AIMessage): RawCall[] {
  const chunks = AIMessageChunk.isInstance(message) ? (message.tool_call_chunks ?? []) : [];
  if (chunks.length > 0) {
    // Pieces of one call share an index (the wire layer made indices unique per call); join them in order.
    const byIndex = new Map<number | string, RawCall>();
    chunks.forEach((c: ToolCallChunk, i) => {
      const key = c.index ?? `i${i}`;
      const call = byIndex.get(key) ?? { id: undefined, name: "", args: undefined };
      call.id ||= c.id;
      call.name += c.name ?? "";
      if (c.args !== undefined) call.args = (call.args ?? "") + c.args;
      byIndex.set(key, call);
    });
    return [...byIndex.values()].filter((c) => c.name !== "" || c.args !== undefined);
  }
  return [
    ...(message.tool_calls ?? []).map((c) => ({ id: c.id, name: c.name, args: JSON.stringify(c.args) })),
    ...(message.invalid_tool_calls ?? []).map((c) => ({ id: c.id, name: c.name ?? "", args: c.args })),
  ];
}

export function normalizeToolCalls(message: AIMessage): AIMessage {
  const raw = rawCalls(message);
  if (raw.length === 0) return message;
  const toolCalls: ToolCall[] = [];
  const invalid: InvalidToolCall[] = [];
  for (const c of raw) {
    const id = c.id || newCallId();
    const parsed = parseArguments(c.args);
    if (parsed.ok && c.name !== "") toolCalls.push({ id, name: c.name, args: parsed.args, type: "tool_call" });
    else invalid.push({ id, name: c.name, args: c.args, error: parsed.ok ? "the call names no tool" : parsed.error, type: "invalid_tool_call" });
  }
  // Drop the provider's raw calls so a replay sends the repaired ones.
  const { tool_calls: _raw, ...additional } = message.additional_kwargs;
  return new AIMessage({
    content: message.content,
    id: message.id,
    name: message.name,
    tool_calls: toolCalls,
    invalid_tool_calls: invalid,
    usage_metadata: message.usage_metadata,
    response_metadata: message.response_metadata,
    additional_kwargs: additional,
  });
}
