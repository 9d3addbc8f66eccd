/**
 * A `fetch` for the OpenAI SDK that repairs tool-call indices in streamed
 * responses before LangChain merges them (see tool-call-body.ts), and ties
 * the request to the current attempt's abort signal (its first-token and
 * idle timeouts).
 */
import { withAttemptSignal } from "../../resilience/attempt-scope.js";
import { toolCallNormalizingBody } from "./tool-call-body.js";

export function normalizingFetch(inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    // The current attempt's timeouts must reach the HTTP request, not only LangChain's loop.
    const signal = withAttemptSignal(init?.signal ?? undefined);
    const response = await inner(input, signal ? { ...init, signal } : init);
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.includes("text/event-stream")) return response;
    return new Response(toolCallNormalizingBody(response.body), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
