/**
 * The slice of the OpenAI Chat Completions wire format the simulator reads
 * and writes. Hand-written rather than taken from the `openai` package
 * because the quirks must be able to emit chunks the SDK's types forbid
 * (a tool-call delta without `index`, for one).
 */

export interface TextPart {
  type: "text";
  text: string;
}

export type WireContent = string | Array<TextPart | { type: string }> | null | undefined;

export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type WireMessage =
  | { role: "system" | "developer"; content: WireContent }
  | { role: "user"; content: WireContent }
  | { role: "assistant"; content?: WireContent; tool_calls?: WireToolCall[] }
  | { role: "tool"; content: WireContent; tool_call_id: string };

export interface ChatRequest {
  model: string;
  messages: WireMessage[];
  tools?: Array<{ type: "function"; function: { name: string } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments?: string };
}

export interface Delta {
  role?: "assistant";
  content?: string | null;
  tool_calls?: ToolCallDelta[];
}

export interface ChunkChoice {
  index: 0;
  delta: Delta;
  finish_reason: string | null;
  logprobs: null;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: ChunkChoice[];
  /** Present (null until the last chunk) only when the request asked for usage. */
  usage?: Usage | null;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    message: { role: "assistant"; content: string | null; tool_calls?: Array<{ id?: string; type: "function"; function: { name: string; arguments?: string } }>; refusal: null };
    finish_reason: string;
    logprobs: null;
  }>;
  usage?: Usage;
}

export interface WireError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks just enough of a request body to read it safely; returns the
 * reason it is unusable, in the real API's words where they are known.
 */
export function parseChatRequest(body: unknown): ChatRequest | { invalid: string } {
  if (!isObject(body)) return { invalid: "We could not parse the JSON body of your request." };
  if (typeof body["model"] !== "string" || body["model"] === "") return { invalid: "you must provide a model parameter" };
  const messages = body["messages"];
  if (!Array.isArray(messages)) return { invalid: "Missing required parameter: 'messages'." };
  for (const [i, m] of messages.entries()) {
    if (!isObject(m) || typeof m["role"] !== "string") return { invalid: `Missing required parameter: 'messages.[${i}].role'.` };
    if (!["system", "developer", "user", "assistant", "tool"].includes(m["role"])) {
      return { invalid: `Invalid value: '${m["role"]}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'developer'.` };
    }
    if (m["role"] === "tool" && typeof m["tool_call_id"] !== "string") return { invalid: `Missing required parameter: 'messages.[${i}].tool_call_id'.` };
  }
  return body as unknown as ChatRequest;
}
