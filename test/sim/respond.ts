/**
 * Plays one scenario out on an HTTP response: pacing, the chunks, and the
 * fault, if any, at its chunk. Resolves with how the response ended; rejects
 * only with the abort error when the client leaves.
 */
import type { ServerResponse } from "node:http";
import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises";
import { buildChunks, finishReasonOf, type ChunkMeta } from "./chunks.js";
import type { ResolvedReply } from "./reply.js";
import type { Fault, Scenario } from "./scenario.js";
import { SseWriter } from "./sse.js";
import type { ChatCompletion, Usage, WireError } from "./wire.js";

export type Outcome = "completed" | "status" | "reset" | "stalled" | "malformed";

export interface Exchange {
  res: ServerResponse;
  signal: AbortSignal;
  /** Called before the server itself drops the connection, so it is not counted as the client leaving. */
  dropping(): void;
  onChunk(): void;
}

export interface Plan {
  scenario: Scenario;
  reply: ResolvedReply;
  meta: ChunkMeta;
  /** Undefined when the client did not ask for usage or the scenario hides it. */
  usage: Usage | undefined;
}

/** With no delay a long answer would be written in one synchronous burst; yielding lets a disconnect be seen. */
const YIELD_EVERY = 32;

const ERROR_KINDS: Record<number, { type: string; code: string | null }> = {
  400: { type: "invalid_request_error", code: null },
  401: { type: "invalid_request_error", code: "invalid_api_key" },
  403: { type: "invalid_request_error", code: "unsupported_country_region_territory" },
  404: { type: "invalid_request_error", code: "model_not_found" },
  429: { type: "requests", code: "rate_limit_exceeded" },
  500: { type: "server_error", code: null },
  502: { type: "server_error", code: null },
  503: { type: "server_error", code: "service_unavailable" },
};

export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  extra: { param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
): void {
  const kind = ERROR_KINDS[status] ?? { type: status >= 500 ? "server_error" : "invalid_request_error", code: null };
  const body: WireError = { error: { message, type: kind.type, param: extra.param ?? null, code: extra.code !== undefined ? extra.code : kind.code } };
  res.writeHead(status, { "content-type": "application/json", ...extra.headers });
  res.end(JSON.stringify(body));
}

function sendStatusFault(res: ServerResponse, fault: Extract<Fault, { kind: "status" }>): Outcome {
  const message = fault.message ?? `Simulated HTTP ${fault.status} from the Parley model simulator.`;
  sendError(res, fault.status, message, fault.retryAfter !== undefined ? { headers: { "retry-after": fault.retryAfter } } : {});
  return "status";
}

const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

async function pause(ms: number | undefined, signal: AbortSignal): Promise<void> {
  if (ms && ms > 0) await sleep(ms, undefined, { signal });
}

/** Acts out a body fault at this point of the stream. */
async function strike(fault: Exclude<Fault, { kind: "status" }>, x: Exchange, sse: SseWriter): Promise<Outcome> {
  switch (fault.kind) {
    case "reset":
      await sse.flush();
      x.dropping();
      x.res.socket?.destroy();
      return "reset";
    case "stall":
      return await untilAborted(x.signal);
    case "malformed":
      // A chunk cut off mid-string, as a crashing proxy leaves it.
      await sse.data('{"id":"chatcmpl-sim-broken","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"unterminated');
      x.res.end();
      return "malformed";
  }
}

export async function streamPlan(x: Exchange, plan: Plan): Promise<Outcome> {
  const { fault, pacing = {}, quirks = {} } = plan.scenario;
  if (fault?.kind === "status") return sendStatusFault(x.res, fault);
  const bodyFault = fault && fault.afterChunks >= 0 ? fault : undefined;
  const sse = new SseWriter(x.res, x.signal, { splitUtf8: quirks.splitUtf8 === true, onChunk: x.onChunk });
  // "After 0 chunks" for a reset or stall means before the status line: the client's request never resolves.
  if (bodyFault && bodyFault.afterChunks === 0 && bodyFault.kind !== "malformed") return await strike(bodyFault, x, sse);
  sse.open();

  const chunks = buildChunks(plan.reply, quirks, plan.meta, plan.usage);
  await pause(pacing.ttftMs, x.signal);
  for (const [i, chunk] of chunks.entries()) {
    if (bodyFault && bodyFault.afterChunks === i) return await strike(bodyFault, x, sse);
    if (i > 0) await pause(pacing.tokenDelayMs, x.signal);
    if (!pacing.tokenDelayMs && i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToLoop(undefined, { signal: x.signal });
    await sse.event(chunk);
  }
  if (bodyFault) return await strike(bodyFault, x, sse);
  await sse.done();
  return "completed";
}

export async function respondPlan(x: Exchange, plan: Plan): Promise<Outcome> {
  const { fault, pacing = {}, quirks = {} } = plan.scenario;
  if (fault?.kind === "status") return sendStatusFault(x.res, fault);
  await pause(pacing.ttftMs, x.signal);
  if (fault?.kind === "reset") {
    x.dropping();
    x.res.socket?.destroy();
    return "reset";
  }
  if (fault?.kind === "stall") return await untilAborted(x.signal);

  const { reply } = plan;
  const body: ChatCompletion = {
    id: plan.meta.id,
    object: "chat.completion",
    created: plan.meta.created,
    model: plan.meta.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: reply.toolCalls.length > 0 && reply.text === "" ? null : reply.text,
          ...(reply.toolCalls.length > 0
            ? {
                tool_calls: reply.toolCalls.map((c) => ({
                  ...(quirks.omitIdEntirely ? {} : { id: c.id }),
                  type: "function" as const,
                  function: quirks.omitArguments ? { name: c.name } : { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
          refusal: null,
        },
        finish_reason: finishReasonOf(reply, quirks),
        logprobs: null,
      },
    ],
    ...(plan.usage ? { usage: plan.usage } : {}),
  };
  const json = JSON.stringify(body);
  x.res.writeHead(200, { "content-type": "application/json" });
  x.res.end(fault?.kind === "malformed" ? json.slice(0, Math.floor(json.length / 2)) : json);
  return fault?.kind === "malformed" ? "malformed" : "completed";
}
