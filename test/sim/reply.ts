/** What the simulated model says: the scenario's scripted reply, or the offline script's decision. */
import { decide, tokenize } from "../../src/agent/offline/script.js";
import { toScriptMessages, toolNamesOf } from "./convert.js";
import type { Reply } from "./scenario.js";
import type { ChatRequest } from "./wire.js";

export interface ResolvedCall {
  id: string;
  name: string;
  arguments: string;
}

export interface ResolvedReply {
  text: string;
  toolCalls: ResolvedCall[];
}

export function resolveReply(req: ChatRequest, reply: Reply | undefined, nextCallId: () => string): ResolvedReply {
  if (reply) {
    const toolCalls = "toolCalls" in reply ? reply.toolCalls.map((c) => ({ id: c.id ?? nextCallId(), name: c.name, arguments: c.arguments ?? "{}" })) : [];
    return { text: reply.text ?? "", toolCalls };
  }
  const d = decide(toScriptMessages(req.messages), toolNamesOf(req));
  if (d.kind === "text") return { text: d.text, toolCalls: [] };
  return { text: "", toolCalls: d.calls.map((c) => ({ id: nextCallId(), name: c.name, arguments: JSON.stringify(c.args) })) };
}

export const completionTokens = (r: ResolvedReply): number =>
  tokenize(r.text).length + r.toolCalls.reduce((n, c) => n + tokenize(`${c.name} ${c.arguments}`).length, 0);
