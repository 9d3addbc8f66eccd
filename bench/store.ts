/**
 * The store's own cost per turn: the calls a first turn makes on the SQLite
 * store the server opens (`openSqliteStore`: WAL, the migrations, the
 * statement cache) — getConversation, startRun, history, finishRun with one
 * 32-token answer — on a fresh file, sequentially, after a warm-up. The
 * conversation is created outside the measured part, as in `turns`.
 *
 *   node --import tsx bench/store.ts '{"turns":5000,"warmup":500}'
 *
 * Prints one JSON object on stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId } from "../src/ids.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import type { MessageRecord, Store } from "../src/store/store.js";
import { distribution } from "./lib/stats.js";

interface Args {
  turns: number;
  warmup: number;
}

type NewMessage = Omit<MessageRecord, "conversationId" | "createTime">;

const ANSWER = Array.from({ length: 32 }, (_, i) => String(i + 1)).join(" ");

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const message = (runId: string, role: "user" | "assistant", content: string): NewMessage => ({
  id: newId(), role, content, toolCalls: [], toolCallId: null, toolName: null, isError: false, runId,
  usage: role === "assistant" ? { inputTokens: 12, outputTokens: 32, totalTokens: 44, estimated: false } : null,
  finishReason: role === "assistant" ? "stop" : null, model: role === "assistant" ? "parley-offline" : null,
});

/** One turn's store calls; returns the CPU they took, in µs. */
async function turn(store: Store, tenant: string): Promise<number> {
  const conversation = await store.createConversation({ id: newId(), tenant, title: "bench", systemPrompt: "", model: "", metadata: {}, createTime: new Date() });
  const c0 = cpuNow();
  await store.getConversation(tenant, conversation.id);
  const runId = newId();
  const started = await store.startRun({ tenant, conversationId: conversation.id, runId, requestId: null, model: "parley-offline", startTime: new Date(), userMessage: message(runId, "user", "count to 32") });
  if (started.kind !== "started") throw new Error(`startRun: ${started.kind}`);
  await store.history(tenant, conversation.id);
  await store.finishRun({
    tenant, conversationId: conversation.id, runId, status: "completed", endReason: "completed", errorCode: null, errorMessage: null,
    usage: { inputTokens: 12, outputTokens: 32, totalTokens: 44, estimated: false }, steps: 1, timeToFirstTokenMs: 1,
    endTime: new Date(), messages: [message(runId, "assistant", ANSWER)],
  });
  return cpuNow() - c0;
}

async function main(): Promise<void> {
  const args: Args = { turns: 5000, warmup: 500, ...(JSON.parse(process.argv[2] ?? "{}") as Partial<Args>) };
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-store-"));
  const store = await openSqliteStore(join(dir, "bench.db"));
  try {
    for (let i = 0; i < args.warmup; i++) await turn(store, "bench");
    const perTurn: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < args.turns; i++) perTurn.push(await turn(store, "bench"));
    const wallMs = performance.now() - t0;
    const cpuUs = perTurn.reduce((a, b) => a + b, 0);
    process.stdout.write(JSON.stringify({ pid: process.pid, turns: args.turns, warmup: args.warmup, cpuPerTurnUs: cpuUs / args.turns, wallMs, perTurnUs: distribution(perTurn) }) + "\n");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
