/**
 * What a simulated model does for one request. Every field is optional so a
 * scenario says only what differs from an honest, instant model that answers
 * with the offline script (src/agent/offline/script.ts).
 */

export interface ToolCallSpec {
  /** Defaults to a fresh `call_sim_<n>`. */
  id?: string;
  name: string;
  /** Raw argument text as the model "wrote" it: may be invalid JSON or "". Defaults to "{}". */
  arguments?: string;
}

export type Reply = { text: string } | { toolCalls: ToolCallSpec[]; text?: string };

export interface Pacing {
  /** Time to first chunk. */
  ttftMs?: number;
  /** Pause between chunks; 0 streams as fast as the socket takes it. */
  tokenDelayMs?: number;
}

export type Fault =
  /** Answer with this HTTP status and an OpenAI-style `{ error }` body. */
  | { kind: "status"; status: number; retryAfter?: string; message?: string }
  /** Destroy the socket after N SSE chunks; 0 = before the response headers. */
  | { kind: "reset"; afterChunks: number }
  /** Go silent after N SSE chunks until the client gives up; 0 = before the response headers. */
  | { kind: "stall"; afterChunks: number }
  /** Write a broken `data:` line after N SSE chunks and end the body. */
  | { kind: "malformed"; afterChunks: number };

/** Deviations seen in real OpenAI-compatible servers (vLLM, Ollama, LiteLLM, proxies...). */
export interface Quirks {
  /** Split each tool call's arguments into fragments of this many characters; 0/undefined = one delta. */
  argsFragmentSize?: number;
  /** Every tool-call delta says index 0, even for different calls. */
  reuseIndexZero?: boolean;
  /** Only the first delta of a call carries `id` (by default every delta of a call repeats it). */
  omitIdAfterFirst?: boolean;
  /** No tool-call delta carries `id`. */
  omitIdEntirely?: boolean;
  /** Tool-call deltas have no `index` field. */
  omitIndex?: boolean;
  /** Tool-call deltas have no `arguments` field at all. */
  omitArguments?: boolean;
  /** Replaces the final finish_reason, e.g. "stop" after tool calls or "length". */
  finishReason?: string;
  /** The whole text in one delta instead of token by token. */
  singleDelta?: boolean;
  /** Each SSE chunk reaches the socket as two writes, cut inside a multi-byte UTF-8 character. */
  splitUtf8?: boolean;
  /** An astral character's surrogate halves go in two consecutive deltas (as `\ud83d` escapes). */
  splitSurrogates?: boolean;
  /** Never send usage, even when the request asks for it. */
  omitUsage?: boolean;
  /** Report these counts instead of the counted ones. */
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface Scenario {
  /** Defaults to the offline script's decide() on the request's history. */
  reply?: Reply;
  pacing?: Pacing;
  fault?: Fault;
  quirks?: Quirks;
}

/** The shape of a `--scenarios FILE`. */
export interface ScenarioFile {
  defaults?: Scenario;
  scenarios?: Record<string, Scenario>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks the outer shape of a scenario file. Deep checks are left out on
 * purpose: a scenario is test data, and a typo shows up as the fault not
 * firing, which the person writing it sees at once.
 */
export function parseScenarioFile(text: string): ScenarioFile {
  const parsed: unknown = JSON.parse(text);
  if (!isObject(parsed)) throw new Error("scenario file must be a JSON object");
  const { defaults, scenarios } = parsed;
  if (defaults !== undefined && !isObject(defaults)) throw new Error('"defaults" must be an object');
  if (scenarios !== undefined && !isObject(scenarios)) throw new Error('"scenarios" must be an object');
  for (const [name, s] of Object.entries(scenarios ?? {})) {
    if (!isObject(s)) throw new Error(`scenario "${name}" must be an object`);
  }
  return parsed as ScenarioFile;
}
