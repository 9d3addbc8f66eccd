/**
 * The JS heap one agent run costs while it waits mid-turn, without Parley's
 * transport, store or turn runner: N runs of the server's agent
 * (bench/lib/agent.ts) held in the offline model's wait before a token.
 * Set against the server's RSS per open stream, it says how much of a
 * stream is the LangChain/LangGraph run itself.
 *
 *   node --expose-gc --import tsx bench/agent-hold-heap.ts [N] [snapshot-dir]
 *
 * With a directory, heap snapshots before and after the N runs are written there.
 */
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { benchAgent } from "./lib/agent.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const n = Number(process.argv[2] ?? 1000);
const snapshotDir = process.argv[3];
const agent = benchAgent(10_000);

async function settle(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

const controllers: AbortController[] = [];
const hold = (k: number) => {
  for (let i = 0; i < k; i++) {
    const c = new AbortController();
    controllers.push(c);
    agent.turn("count to 32", () => undefined, c.signal).catch(() => undefined);
  }
};
hold(20);
await new Promise((r) => setTimeout(r, 2000));
const before = await settle();
if (snapshotDir) writeHeapSnapshot(join(snapshotDir, "agent-before.heapsnapshot"));
hold(n);
await new Promise((r) => setTimeout(r, 3000));
const after = await settle();
if (snapshotDir) writeHeapSnapshot(join(snapshotDir, "agent-after.heapsnapshot"));
console.log(`${n} agent runs held mid-turn: heap ${(before / 1048576).toFixed(1)} -> ${(after / 1048576).toFixed(1)} MB, ${((after - before) / n / 1024).toFixed(1)} KB per run`);
for (const c of controllers) c.abort();
setTimeout(() => process.exit(0), 200);
