/**
 * A `fetch` for the OpenAI SDK that repairs tool-call indices in streamed
 * responses before LangChain merges them (see tool-call-deltas.ts), and
 * ties the request to the current attempt's abort signal (its first-token
 * and idle timeouts).
 *
 * Only SSE lines that carry tool calls are parsed and rewritten; every other
 * line passes through as it came, so plain text streaming pays one substring
 * search per line. Cancelling the returned body cancels the upstream body,
 * so a caller's cancel still reaches the HTTP request.
 */
import { withAttemptSignal } from "../../resilience/attempt-scope.js";
import { ToolCallIndexer, type ToolCallDelta } from "./tool-call-deltas.js";

interface ChunkJson {
  choices?: Array<{ delta?: { tool_calls?: ToolCallDelta[] } }>;
}

function rewriteLine(line: string, indexer: ToolCallIndexer): string {
  if (!line.startsWith("data:") || !line.includes('"tool_calls"')) return line;
  let chunk: ChunkJson;
  try {
    chunk = JSON.parse(line.slice(5)) as ChunkJson;
  } catch {
    // Not JSON: leave it for the SDK to report as it would.
    return line;
  }
  let changed = false;
  for (const choice of chunk.choices ?? []) {
    const calls = choice.delta?.tool_calls;
    if (Array.isArray(calls)) {
      indexer.normalize(calls);
      changed = true;
    }
  }
  return changed ? `data: ${JSON.stringify(chunk)}` : line;
}

export function toolCallNormalizingStream(): TransformStream<string, string> {
  const indexer = new ToolCallIndexer();
  let pending = "";
  return new TransformStream<string, string>({
    transform(text, controller) {
      pending += text;
      const lastNewline = pending.lastIndexOf("\n");
      if (lastNewline < 0) return;
      const complete = pending.slice(0, lastNewline + 1);
      pending = pending.slice(lastNewline + 1);
      controller.enqueue(complete.includes('"tool_calls"') ? complete.split("\n").map((l) => rewriteLine(l, indexer)).join("\n") : complete);
    },
    flush(controller) {
      if (pending !== "") controller.enqueue(rewriteLine(pending, indexer));
    },
  });
}

export function normalizingFetch(inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    // The current attempt's timeouts must reach the HTTP request, not only LangChain's loop.
    const signal = withAttemptSignal(init?.signal ?? undefined);
    const response = await inner(input, signal ? { ...init, signal } : init);
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.includes("text/event-stream")) return response;
    const body = response.body
      // TextDecoderStream keeps a multi-byte character split across reads whole.
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(toolCallNormalizingStream())
      .pipeThrough(new TextEncoderStream());
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
