/**
 * Baseline: the same LangChain agent behind a plain node:http server that
 * streams each turn as server-sent events, LangServe-style: POST a message,
 * get one `data:` line per token, then `data: [DONE]`. No store, no
 * protobuf, no auth: what a minimal HTTP wrapper around the agent costs.
 *
 *   BENCH_PORT=50098 node --import tsx bench/baselines/sse-agent.ts
 *   curl -N -d '{"message":"count to 5"}' http://127.0.0.1:50098/stream
 *
 * Prints `ready <port>` on stdout once listening on 127.0.0.1.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { benchAgent } from "../lib/agent.js";

const agent = benchAgent(Number(process.env["PARLEY_OFFLINE_TOKEN_DELAY_MS"] ?? "0"));

async function readJson(req: IncomingMessage): Promise<{ message?: unknown }> {
  let body = "";
  for await (const part of req as AsyncIterable<Buffer>) {
    body += part.toString("utf8");
    if (body.length > 1_000_000) throw new Error("body too large");
  }
  return JSON.parse(body) as { message?: unknown };
}

async function stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { message } = await readJson(req);
  if (typeof message !== "string" || message.trim() === "") {
    res.writeHead(400, { "content-type": "application/json" }).end('{"error":"message must be a non-empty string"}');
    return;
  }
  const ac = new AbortController();
  res.on("close", () => ac.abort());
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  try {
    await agent.turn(
      message,
      async (delta) => {
        // Backpressure like Parley's: the model waits for the socket.
        if (!res.write(`data: ${JSON.stringify({ text: delta })}\n\n`)) await once(res, "drain", { signal: ac.signal });
      },
      ac.signal,
    );
    res.end("data: [DONE]\n\n");
  } catch (err) {
    if (!res.destroyed) res.end(`data: ${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n\n`);
  }
}

const server = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/stream") {
    stream(req, res).catch(() => res.destroy());
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env["BENCH_PORT"] ?? "0"), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
