/**
 * The two ways Parley gets a model, for tests that must hold on both: the
 * offline model, and the `openai` provider (ChatOpenAI over HTTP) against
 * the simulator, whose default scenario answers like the offline model.
 */
import { startSimulator, SIM_MODEL, type Simulator } from "../sim/server.js";
import type { ScriptMessage } from "../../src/agent/offline/script.js";
import { startTestServer, type TestServer } from "./server.js";

export interface ProviderServer extends TestServer {
  /** Tokens (offline) or SSE chunks (simulator) the model has produced so far. */
  produced(): number;
  /** Roles of the messages the model received in its latest call. */
  lastInputRoles(): string[];
  lastInputFirstContent(): string;
  sim: Simulator | undefined;
}

export interface Provider {
  name: string;
  start(env?: Record<string, string>): Promise<ProviderServer>;
}

const textOf = (content: unknown): string =>
  typeof content === "string" ? content : Array.isArray(content) ? content.map((p: { text?: string }) => p.text ?? "").join("") : "";

export const offline: Provider = {
  name: "offline",
  async start(env = {}) {
    const s = await startTestServer({ PARLEY_PROVIDER: "offline", ...env });
    const last = (): ScriptMessage[] => s.app.offlineStats!.lastInput;
    return { ...s, sim: undefined, produced: () => s.app.offlineStats!.tokensProduced, lastInputRoles: () => last().map((m) => m.role), lastInputFirstContent: () => last()[0]?.content ?? "" };
  },
};

export const simulated: Provider = {
  name: "openai via the simulator",
  async start(env = {}) {
    const tokenDelayMs = Number(env["PARLEY_OFFLINE_TOKEN_DELAY_MS"] ?? "0");
    const sim = await startSimulator({ defaults: { pacing: { tokenDelayMs } } });
    const s = await startTestServer({ PARLEY_PROVIDER: "openai", OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: "sk-test-not-secret", PARLEY_MODEL: SIM_MODEL, ...env });
    const last = () => sim.requests.filter((r) => r.body).at(-1)?.body?.messages ?? [];
    return {
      ...s,
      sim,
      produced: () => sim.stats.chunksSent,
      lastInputRoles: () => last().map((m) => m.role),
      lastInputFirstContent: () => textOf(last()[0]?.content),
      async close(removeData?: boolean) {
        await s.close(removeData);
        await sim.close();
      },
    };
  },
};

export const PROVIDERS: Provider[] = [offline, simulated];
