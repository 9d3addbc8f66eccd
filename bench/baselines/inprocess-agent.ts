/**
 * Baseline: the same LangChain agent in-process, no transport, no store
 * (AgentRunner with the offline models at zero pace and a PolicyRegistry,
 * the same tools). Measures turns/s at a concurrency, CPU per turn, and CPU
 * per token on a long answer, with process.cpuUsage().
 *
 *   node --import tsx bench/baselines/inprocess-agent.ts '{"concurrency":50,"count":2000}'
 *
 * Prints one JSON object on stdout.
 */
import { benchAgent } from "../lib/agent.js";

interface Args {
  concurrency: number;
  count: number;
  durationS: number;
  warmup: number;
  message: string;
  longMessage: string;
  longTurns: number;
  /** Paced answers, `concurrency` at a time, so every token is its own event (the "chunks" per-message figure). */
  paced?: { concurrency: number; turns: number; message: string; tokenDelayMs: number };
}

const DEFAULTS: Args = { concurrency: 50, count: 2000, durationS: 30, warmup: 200, message: "count to 32", longMessage: "count to 20000", longTurns: 3 };

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const args: Args = { ...DEFAULTS, ...(JSON.parse(process.argv[2] ?? "{}") as Partial<Args>) };
  const agent = benchAgent(0);

  let tokens = 0;
  const count = (): void => {
    tokens++;
  };
  for (let i = 0; i < args.warmup; i++) await agent.turn(args.message, count);

  // Turns at the given concurrency.
  tokens = 0;
  let next = 0;
  let done = 0;
  const deadline = performance.now() + args.durationS * 1000;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (next < args.count && performance.now() < deadline) {
        next++;
        await agent.turn(args.message, count);
        done++;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpuUs = cpuNow() - cpu0;
  const turnTokens = tokens;

  // Long answers, one at a time.
  await agent.turn(args.longMessage, count);
  tokens = 0;
  const lcpu0 = cpuNow();
  const lt0 = performance.now();
  for (let i = 0; i < args.longTurns; i++) await agent.turn(args.longMessage, count);
  const longWallMs = performance.now() - lt0;
  const longCpuUs = cpuNow() - lcpu0;
  const longTokens = tokens;

  let paced: Record<string, number> | undefined;
  if (args.paced) {
    const cfg = args.paced;
    const slow = benchAgent(cfg.tokenDelayMs);
    await slow.turn(cfg.message, count);
    tokens = 0;
    let started = 0;
    const pcpu0 = cpuNow();
    const pt0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(cfg.concurrency, cfg.turns) }, async () => {
        while (started++ < cfg.turns) await slow.turn(cfg.message, count);
      }),
    );
    const wallMs = performance.now() - pt0;
    const cpuUs = cpuNow() - pcpu0;
    paced = { concurrency: cfg.concurrency, turns: cfg.turns, tokenDelayMs: cfg.tokenDelayMs, tokens, wallMs, cpuUs, cpuPerTokenUs: cpuUs / tokens, tokensPerS: (tokens / wallMs) * 1000 };
  }

  const result = {
    pid: process.pid,
    turns: {
      concurrency: args.concurrency,
      completed: done,
      wallMs,
      turnsPerS: (done / wallMs) * 1000,
      cpuUs,
      cpuPerTurnUs: cpuUs / done,
      tokens: turnTokens,
      tokensPerTurn: turnTokens / done,
      cpuPerTokenUs: cpuUs / turnTokens,
    },
    long: {
      message: args.longMessage,
      turns: args.longTurns,
      tokens: longTokens,
      wallMs: longWallMs,
      cpuUs: longCpuUs,
      cpuPerTokenUs: longCpuUs / longTokens,
      tokensPerS: (longTokens / longWallMs) * 1000,
    },
    paced,
    rssBytes: process.memoryUsage().rss,
    cpuSelfUs: cpuNow(),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`inprocess-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
