/**
 * The OpenAI-compatible simulator (test/sim) with the simulator side of each
 * request timed: when the request arrived and when its first SSE `data:`
 * line was written, on this process's clock, so the load process can
 * subtract the model's own time to first token from what it measured
 * through Parley.
 *
 * The simulator itself is not changed: arrivals come from Node's
 * `http.server.request.start` diagnostics channel, the first write from a
 * wrapper around ServerResponse.prototype.write, and the request is matched
 * to the benchmark's turn by a tag in the last user message.
 */
import { subscribe } from "node:diagnostics_channel";
import { ServerResponse, type IncomingMessage } from "node:http";
import { startSimulator, type RecordedRequest, type Simulator } from "../../test/sim/server.js";
import type { Scenario } from "../../test/sim/scenario.js";

export interface SimTiming {
  arrivedAt: number;
  firstWriteAt: number;
}

export interface ProbedSimulator {
  sim: Simulator;
  /** The simulator's own request → first data line, for the request whose last user message contains `tag`. */
  timing(tag: string): SimTiming | undefined;
  close(): Promise<void>;
}

const TAG = /#bench-(\d+)/;

export const benchTag = (i: number): string => `#bench-${i}`;

function lastUserText(rec: RecordedRequest): string {
  const messages = rec.body?.messages ?? [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    if (Array.isArray(m.content)) return m.content.map((p) => ("text" in p && typeof p.text === "string" ? p.text : "")).join("");
    return "";
  }
  return "";
}

export async function startProbedSimulator(port: number, defaults: Scenario): Promise<ProbedSimulator> {
  const arrivals = new WeakMap<ServerResponse, number>();
  const seen = new WeakSet<ServerResponse>();
  const timings = new Map<string, SimTiming>();
  // Set once the simulator is up; the write wrapper runs only after that anyway.
  const state: { sim?: Simulator } = {};

  subscribe("http.server.request.start", (message) => {
    const { response } = message as { response: ServerResponse };
    arrivals.set(response, performance.now());
  });

  const originalWrite = ServerResponse.prototype.write;
  const patched = function (this: ServerResponse, ...args: unknown[]): boolean {
    if (!seen.has(this)) {
      seen.add(this);
      const now = performance.now();
      const arrivedAt = arrivals.get(this);
      const req = (this as ServerResponse & { req?: IncomingMessage }).req;
      const sim = state.sim;
      if (sim && arrivedAt !== undefined && req) {
        // The simulator records the request (and its parsed body) before it writes anything.
        for (let i = sim.requests.length - 1; i >= 0; i--) {
          const rec = sim.requests[i];
          if (rec?.headers !== req.headers) continue;
          const m = TAG.exec(lastUserText(rec));
          if (m) timings.set(m[0], { arrivedAt, firstWriteAt: now });
          break;
        }
      }
    }
    return (originalWrite as (...a: unknown[]) => boolean).apply(this, args);
  };
  ServerResponse.prototype.write = patched as typeof ServerResponse.prototype.write;

  const started = await startSimulator({ host: "127.0.0.1", port, defaults, strict: true });
  state.sim = started;
  return {
    sim: started,
    timing: (tag) => timings.get(tag),
    async close() {
      ServerResponse.prototype.write = originalWrite;
      await started.close();
    },
  };
}
