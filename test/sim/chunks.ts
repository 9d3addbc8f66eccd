/**
 * A reply as the list of `chat.completion.chunk`s a server would stream,
 * with the scenario's quirks applied. Pure, so the shape of every quirk can
 * be read here in one place, apart from timing and sockets.
 */
import { tokenize } from "../../src/agent/offline/script.js";
import type { ResolvedCall, ResolvedReply } from "./reply.js";
import type { Quirks } from "./scenario.js";
import type { ChatCompletionChunk, Delta, ToolCallDelta, Usage } from "./wire.js";

export interface ChunkMeta {
  id: string;
  created: number;
  model: string;
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** Cuts between the halves of every surrogate pair; JSON.stringify then writes each lone half as a `\uXXXX` escape. */
export function splitAtSurrogates(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length - 1; i++) {
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) {
      out.push(s.slice(start, i + 1));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function textPieces(text: string, q: Quirks): string[] {
  const pieces = q.singleDelta ? (text === "" ? [] : [text]) : tokenize(text);
  return q.splitSurrogates ? pieces.flatMap(splitAtSurrogates) : pieces;
}

function fragments(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function toolCallDeltas(call: ResolvedCall, position: number, q: Quirks): ToolCallDelta[] {
  const size = q.argsFragmentSize ?? 0;
  // Like OpenAI itself, a fragmented call opens with its name and empty arguments.
  const args = q.omitArguments ? [] : size > 0 ? ["", ...fragments(call.arguments, size)] : [call.arguments];
  const count = Math.max(args.length, 1);
  return Array.from({ length: count }, (_, k): ToolCallDelta => {
    const d: ToolCallDelta = { function: {} };
    if (!q.omitIndex) d.index = q.reuseIndexZero ? 0 : position;
    if (!q.omitIdEntirely && (k === 0 || !q.omitIdAfterFirst)) {
      d.id = call.id;
      d.type = "function";
    }
    if (k === 0) d.function.name = call.name;
    const a = args[k];
    if (a !== undefined) d.function.arguments = a;
    return d;
  });
}

export function finishReasonOf(reply: ResolvedReply, q: Quirks): string {
  return q.finishReason ?? (reply.toolCalls.length > 0 ? "tool_calls" : "stop");
}

/** `usage` given = the request asked for it: every chunk then says `usage: null` and one more chunk carries the counts. */
export function buildChunks(reply: ResolvedReply, q: Quirks, meta: ChunkMeta, usage: Usage | undefined): ChatCompletionChunk[] {
  const deltas: Delta[] = [];
  const text = textPieces(reply.text, q);
  const calls = reply.toolCalls.flatMap((c, i) => toolCallDeltas(c, i, q));
  if (text.length > 0 || calls.length === 0) {
    deltas.push({ role: "assistant", content: "" });
    for (const t of text) deltas.push({ content: t });
    for (const c of calls) deltas.push({ tool_calls: [c] });
  } else {
    // A tool-only answer opens straight with the first call, content null, as OpenAI does.
    calls.forEach((c, i) => deltas.push(i === 0 ? { role: "assistant", content: null, tool_calls: [c] } : { tool_calls: [c] }));
  }

  const head = { id: meta.id, object: "chat.completion.chunk" as const, created: meta.created, model: meta.model };
  const chunk = (delta: Delta, finish: string | null): ChatCompletionChunk => ({
    ...head,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...(usage ? { usage: null } : {}),
  });
  const chunks = deltas.map((d) => chunk(d, null));
  chunks.push(chunk({}, finishReasonOf(reply, q)));
  if (usage) chunks.push({ ...head, choices: [], usage });
  return chunks;
}
