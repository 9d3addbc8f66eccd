/**
 * The resilience policy's own cost per model call: ModelPolicy.execute
 * (bulkhead, retry, circuit breaker, first-token/idle watchdog, attempt
 * scope) around a trivial async function, against calling that function
 * bare, in the same process, after a warm-up. Each call gets its own
 * AbortController, as each turn does in the server.
 *
 *   node --import tsx bench/policy.ts '{"iterations":200000,"warmup":20000}'
 *
 * Prints one JSON object on stdout.
 */
import { loadConfig } from "../src/config.js";
import { PolicyRegistry } from "../src/resilience/registry.js";
import type { CallOptions } from "../src/resilience/model-policy.js";
import { BENCH_RESILIENCE_ENV } from "./lib/agent.js";
import { distribution } from "./lib/stats.js";

interface Args {
  iterations: number;
  warmup: number;
  batch: number;
}

async function main(): Promise<void> {
  const args: Args = { iterations: 200_000, warmup: 20_000, batch: 1000, ...(JSON.parse(process.argv[2] ?? "{}") as Partial<Args>) };
  const config = loadConfig({ PARLEY_LOG_LEVEL: "silent", ...BENCH_RESILIENCE_ENV });
  const policy = new PolicyRegistry(config.resilience).model("bench-model");

  const trivial = async (): Promise<number> => 1;
  const callOptions = (): CallOptions => ({ signal: new AbortController().signal, deadlineAt: Date.now() + 60_000, outputSent: () => false });
  let sink = 0;
  const bare = async (): Promise<void> => {
    const call = callOptions();
    if (!call.signal.aborted) sink += await trivial();
  };
  const wrapped = async (): Promise<void> => {
    sink += await policy.execute(trivial, callOptions());
  };

  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };

  /** Wall and CPU time per call; CPU is what the call costs even when other processes share the cores. */
  async function measure(fn: () => Promise<void>): Promise<{ perCallUs: number; cpuPerCallUs: number; batchesUs: ReturnType<typeof distribution> }> {
    for (let i = 0; i < args.warmup; i++) await fn();
    const batches: number[] = [];
    const c0 = cpuNow();
    const t0 = performance.now();
    for (let done = 0; done < args.iterations; done += args.batch) {
      const b0 = performance.now();
      for (let i = 0; i < args.batch; i++) await fn();
      batches.push(((performance.now() - b0) * 1000) / args.batch);
    }
    const total = performance.now() - t0;
    return { perCallUs: (total * 1000) / args.iterations, cpuPerCallUs: (cpuNow() - c0) / args.iterations, batchesUs: distribution(batches) };
  }

  // Interleaved twice, so neither side gets all the warm caches.
  const bare1 = await measure(bare);
  const policy1 = await measure(wrapped);
  const bare2 = await measure(bare);
  const policy2 = await measure(wrapped);
  const bareUs = Math.min(bare1.perCallUs, bare2.perCallUs);
  const policyUs = Math.min(policy1.perCallUs, policy2.perCallUs);
  const bareCpuUs = Math.min(bare1.cpuPerCallUs, bare2.cpuPerCallUs);
  const policyCpuUs = Math.min(policy1.cpuPerCallUs, policy2.cpuPerCallUs);
  process.stdout.write(
    JSON.stringify({
      pid: process.pid,
      iterations: args.iterations,
      warmup: args.warmup,
      bareUs,
      policyUs,
      overheadUs: policyUs - bareUs,
      bareCpuUs,
      policyCpuUs,
      overheadCpuUs: policyCpuUs - bareCpuUs,
      runs: { bare: [bare1, bare2], policy: [policy1, policy2] },
      sink,
      cpuSelfUs: process.cpuUsage().user + process.cpuUsage().system,
    }) + "\n",
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`policy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
