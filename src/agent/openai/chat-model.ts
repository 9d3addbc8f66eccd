/**
 * ChatOpenAI as the agent calls it: once per model call, createAgent binds
 * the turn's tools (`bindTools`), and LangChain's ChatOpenAI answers that
 * with `withConfig`, which builds a whole new ChatOpenAI from its
 * constructor fields — new Completions and Responses delegates, and on the
 * request a new OpenAI client (options, headers) inside them — and converts
 * every tool's schema again. About 0.7 ms of CPU before each request.
 *
 * Here the delegates are built once and passed in the fields, so every copy
 * `withConfig` makes shares them and their one client; and the bound model
 * is kept per set of tool instances and plain options, so a turn with the
 * same tools reuses it. A bound model is not changed by being invoked, so
 * concurrent turns can share it.
 */
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import type { AIMessageChunk } from "@langchain/core/messages";
import type { Runnable } from "@langchain/core/runnables";
import { ChatOpenAI, ChatOpenAICompletions, ChatOpenAIResponses, type ChatOpenAICallOptions, type ChatOpenAIFields } from "@langchain/openai";

type ToolList = Parameters<ChatOpenAI["bindTools"]>[0];
type BoundModel = Runnable<BaseLanguageModelInput, AIMessageChunk, ChatOpenAICallOptions>;

// A model serves one agent per tool set (see AgentRunner); a few entries cover every turn.
const MAX_BINDINGS = 16;

/** A cache key for options made only of primitives; null when they hold anything else (schemas, objects). */
function plainKey(kwargs: Partial<ChatOpenAICallOptions> | undefined): string | null {
  const entries = Object.entries(kwargs ?? {}).filter(([, v]) => v !== undefined);
  for (const [, v] of entries) {
    if (typeof v === "object" || typeof v === "function") return null;
  }
  return JSON.stringify(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sameTools(a: ToolList, b: ToolList): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

export class ReusingChatOpenAI extends ChatOpenAI {
  private readonly bindings = new Map<string, Array<{ tools: ToolList; model: BoundModel }>>();

  constructor(fields: ChatOpenAIFields) {
    super({ ...fields, completions: new ChatOpenAICompletions(fields), responses: new ChatOpenAIResponses(fields) });
  }

  override bindTools(tools: ToolList, kwargs?: Partial<ChatOpenAICallOptions>): BoundModel {
    const key = plainKey(kwargs);
    if (key === null) return super.bindTools(tools, kwargs);
    const entries = this.bindings.get(key) ?? [];
    const known = entries.find((e) => sameTools(e.tools, tools));
    if (known) return known.model;
    const model = super.bindTools(tools, kwargs);
    if (entries.length >= MAX_BINDINGS) entries.shift();
    // A copy: the caller may reuse its array.
    entries.push({ tools: [...tools], model });
    this.bindings.set(key, entries);
    return model;
  }
}
