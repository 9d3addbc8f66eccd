/**
 * Per-turn retention check: drives soak-like turns (CreateConversation then
 * StreamMessage "count to 32", offline model at zero pace) against an
 * in-process app over a grpc-js client, and at each checkpoint forces GC and
 * prints heapUsed / external / arrayBuffers / RSS, so JS-heap retention can be
 * told from native growth (SQLite, malloc) without a 20-minute soak.
 *
 *   node --expose-gc --import tsx bench/heap-check.ts [--checkpoints 1000,3000,6000] [--concurrency 50] [--snapshots DIR]
 *
 * With --snapshots, a heap snapshot is written at every checkpoint (after GC),
 * for a diff by constructor in DevTools or with bench/heap-diff.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import { pino } from "pino";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { ChannelPool, createConversation, streamTurn } from "./lib/client.js";

const { values } = parseArgs({
  options: {
    checkpoints: { type: "string", default: "1000,3000,6000" },
    concurrency: { type: "string", default: "50" },
    snapshots: { type: "string" },
  },
});
const checkpoints = values.checkpoints.split(",").map(Number);
const concurrency = Number(values.concurrency);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const dataDir = mkdtempSync(join(tmpdir(), "parley-heap-check-"));
const config = loadConfig({
  PARLEY_HOST: "127.0.0.1",
  PARLEY_PORT: "0",
  PARLEY_PROVIDER: "offline",
  PARLEY_DATABASE_URL: `sqlite:${join(dataDir, "parley.db")}`,
  PARLEY_OFFLINE_TOKEN_DELAY_MS: "0",
  PARLEY_LOG_LEVEL: "warn",
  PARLEY_MODEL_CONCURRENCY: "100000",
  PARLEY_MODEL_QUEUE: "1000000",
  PARLEY_SHUTDOWN_GRACE_MS: "0",
});
const app = await startApp(config, pino({ level: "warn" }));
const pool = new ChannelPool(`${app.address.host}:${app.address.port}`, 1);

const mb = (n: number) => (n / 1048576).toFixed(1);
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

let done = 0;
let failed = 0;
let prev: { turns: number; heap: number } | null = null;
let cpu = process.cpuUsage();
console.log("turns\theapUsed MB\texternal MB\tarrayBuffers MB\trss MB\theap bytes/turn since last\tprocess CPU ms/turn since last (server and client)");
for (const target of checkpoints) {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (done < target) {
        done++;
        const client = pool.at(0);
        const r = await streamTurn(client, await createConversation(client), "count to 32");
        if (!r.ok) failed++;
      }
    }),
  );
  const spent = process.cpuUsage(cpu);
  const turnsNow = done - (prev?.turns ?? 0);
  await settle();
  const m = process.memoryUsage();
  const perTurn = prev ? ((m.heapUsed - prev.heap) / (done - prev.turns)).toFixed(0) : "";
  console.log(`${done}\t${mb(m.heapUsed)}\t${mb(m.external)}\t${mb(m.arrayBuffers)}\t${mb(m.rss)}\t${perTurn}\t${((spent.user + spent.system) / 1000 / turnsNow).toFixed(2)}`);
  prev = { turns: done, heap: m.heapUsed };
  if (values.snapshots) console.log(`  snapshot ${writeHeapSnapshot(join(values.snapshots, `heap-${done}.heapsnapshot`))}`);
  cpu = process.cpuUsage();
}
if (failed > 0) console.log(`${failed} turns failed`);

pool.close();
await app.close();
rmSync(dataDir, { recursive: true, force: true });
