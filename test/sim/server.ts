/**
 * An OpenAI-compatible Chat Completions server that fakes the model at the
 * wire, so the real `openai` SDK and LangChain's ChatOpenAI run unmodified
 * against scripted answers, pacing, faults and provider quirks.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promptTokens } from "./convert.js";
import { completionTokens, resolveReply } from "./reply.js";
import { respondPlan, sendError, streamPlan, type Exchange, type Outcome, type Plan } from "./respond.js";
import type { Scenario } from "./scenario.js";
import { SCENARIO_HEADER, selectScenario, type ScenarioBook } from "./select.js";
import { checkToolPairing } from "./strict.js";
import { parseChatRequest, type ChatRequest, type Usage } from "./wire.js";

export const SIM_MODEL = "parley-sim";

export interface SimulatorOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  defaults?: Scenario;
  scenarios?: Record<string, Scenario>;
  /** Reject tool-call histories the real API rejects (default true). */
  strict?: boolean;
  log?: (line: string) => void;
}

export interface SimulatorStats {
  requests: number;
  /** SSE data events written, [DONE] excluded. */
  chunksSent: number;
  /** Clients that went away before their response ended. */
  disconnects: number;
  /** Generations delivered in full (a scripted error status is not one). */
  completed: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed body when it was a usable chat request. */
  body: ChatRequest | undefined;
  startedAt: number;
  /** Which scenario answered, when one did. */
  scenario?: string;
}

export interface Simulator {
  /** Base URL for the SDK, ending in /v1. */
  url: string;
  port: number;
  stats: SimulatorStats;
  requests: RecordedRequest[];
  /** The next chat requests get these, in order, before any other selection. */
  enqueue(...scenarios: Scenario[]): void;
  /** Clears counters, recorded requests and the queue. */
  reset(): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > MAX_BODY_BYTES) throw new Error("request body too large");
    parts.push(part);
  }
  return Buffer.concat(parts).toString("utf8");
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? "127.0.0.1";
  const strict = opts.strict ?? true;
  const book: ScenarioBook = { queue: [], named: opts.scenarios ?? {}, defaults: opts.defaults ?? {} };
  const stats: SimulatorStats = { requests: 0, chunksSent: 0, disconnects: 0, completed: 0 };
  const requests: RecordedRequest[] = [];
  // Never reset, so call ids stay unique across reset() within one conversation.
  let callCounter = 0;
  let completionCounter = 0;

  async function chat(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, x: Exchange): Promise<string> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readBody(req));
    } catch {
      sendError(res, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)");
      return "invalid";
    }
    const body = parseChatRequest(raw);
    if ("invalid" in body) {
      sendError(res, 400, body.invalid);
      return "invalid";
    }
    rec.body = body;
    const broken = strict ? checkToolPairing(body.messages) : null;
    if (broken) {
      sendError(res, 400, broken.message, { param: broken.param });
      return "rejected";
    }
    const header = req.headers[SCENARIO_HEADER];
    const selected = selectScenario(book, Array.isArray(header) ? header[0] : header, body.model);
    if ("unknown" in selected) {
      sendError(res, 400, `Unknown simulator scenario '${selected.unknown}'. Known: ${Object.keys(book.named).join(", ") || "(none)"}.`);
      return "rejected";
    }
    rec.scenario = selected.name;
    const { scenario } = selected;
    const reply = resolveReply(body, scenario.reply, () => `call_sim_${++callCounter}`);
    const wantsUsage = body.stream === true ? body.stream_options?.include_usage === true : true;
    const counted: Usage | undefined =
      wantsUsage && !scenario.quirks?.omitUsage ? usageOf(scenario.quirks?.usage ?? { prompt_tokens: promptTokens(body), completion_tokens: completionTokens(reply) }) : undefined;
    const plan: Plan = {
      scenario,
      reply,
      meta: { id: `chatcmpl-sim-${++completionCounter}`, created: Math.floor(Date.now() / 1000), model: body.model },
      usage: counted,
    };
    const outcome: Outcome = body.stream === true ? await streamPlan(x, plan) : await respondPlan(x, plan);
    if (outcome === "completed") stats.completed++;
    return outcome;
  }

  function models(res: ServerResponse): void {
    const created = Math.floor(Date.now() / 1000);
    const ids = [SIM_MODEL, ...Object.keys(book.named).filter((n) => n !== SIM_MODEL)];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ object: "list", data: ids.map((id) => ({ id, object: "model", created, owned_by: "parley-sim" })) }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://sim").pathname.replace(/\/+$/, "");
    const rec: RecordedRequest = { method: req.method ?? "GET", path, headers: req.headers, body: undefined, startedAt: Date.now() };
    stats.requests++;
    requests.push(rec);

    const ac = new AbortController();
    let dropped = false;
    res.on("close", () => {
      if (!res.writableEnded && !dropped) stats.disconnects++;
      // Always, so any pending pause or drain wait is cleared.
      ac.abort();
    });
    const x: Exchange = { res, signal: ac.signal, dropping: () => (dropped = true), onChunk: () => stats.chunksSent++ };
    const chunksBefore = stats.chunksSent;

    let outcome: string;
    try {
      if (req.method === "POST" && path === "/v1/chat/completions") outcome = await chat(req, res, rec, x);
      else if (req.method === "GET" && path === "/v1/models") {
        models(res);
        outcome = "completed";
      } else {
        sendError(res, 404, `Invalid URL (${req.method ?? "?"} ${req.url ?? ""})`, { code: null });
        outcome = "not-found";
      }
    } catch (err) {
      if (ac.signal.aborted) outcome = "disconnected";
      else {
        outcome = `error: ${err instanceof Error ? err.message : String(err)}`;
        if (!res.headersSent) sendError(res, 500, "The simulator failed; see its log.");
        else res.destroy();
      }
    }
    opts.log?.(
      `${rec.method} ${path} model=${rec.body?.model ?? "-"} scenario=${rec.scenario ?? "-"} ` +
        `status=${res.headersSent ? res.statusCode : "-"} chunks=${stats.chunksSent - chunksBefore} ${outcome} ${Date.now() - rec.startedAt}ms`,
    );
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${urlHost(host)}:${port}/v1`,
    port,
    stats,
    requests,
    enqueue: (...scenarios) => void book.queue.push(...scenarios),
    reset: () => {
      Object.assign(stats, { requests: 0, chunksSent: 0, disconnects: 0, completed: 0 });
      requests.length = 0;
      book.queue.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Stalled streams would otherwise hold close() open forever.
        server.closeAllConnections();
      }),
  };
}

function usageOf(u: { prompt_tokens: number; completion_tokens: number }): Usage {
  return { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.prompt_tokens + u.completion_tokens };
}
