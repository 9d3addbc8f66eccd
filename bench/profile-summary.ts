/**
 * Summarizes V8 .cpuprofile files (from `npm run bench -- --profile`, or any
 * `node --cpu-prof`): self time by function and by package, hottest first.
 *
 *   node --import tsx bench/profile-summary.ts bench/results/profiles/turns-<n>/CPU.*.cpuprofile [--top 25] [--skip S]
 *
 * --skip S leaves out the first S seconds (start-up and module loading).
 * Besides self time, it lists inclusive time of the hottest frames in
 * first-party code (src/, gen/), which says which of Parley's own steps the
 * time is spent under.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Profile } from "./lib/cpuprofile.js";


/** node_modules/<pkg>, src/<dir>, node:internal, or the program itself. */
function packageOf(url: string): string {
  if (url === "") return "(native / V8)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm?.[1]) return nm[1];
  if (url.startsWith("node:")) return "node core";
  const src = /\/(src|gen|bench|test)\/([^/]+)/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|src|gen|bench|test)\//, "$1/");
}

function summarize(path: string, top: number, skipS: number): void {
  const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let clock = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    clock += dt;
    if (clock < skipS * 1e6) return;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)" || functionName === "(program)") {
      if (functionName === "(idle)") idle += us;
    }
    const key = `${functionName || "(anonymous)"}  ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const p = functionName === "(garbage collector)" ? "(garbage collector)" : functionName === "(idle)" ? "(idle)" : packageOf(url);
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${path}\n  ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages of busy time)`);
  console.log("\n  by package:");
  for (const [k, us] of [...pkg].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);
  console.log("\n  by function (self time):");
  for (const [k, us] of [...fn].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);

  // Inclusive time of first-party frames: each sample counts once per distinct frame on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f || !/\/(src|gen)\//.test(f.url) || /node_modules/.test(f.url)) continue;
      const key = `${f.functionName || "(anonymous)"}  ${shortUrl(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  console.log("\n  first-party frames, inclusive time:");
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);
}

const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "25" }, skip: { type: "string", default: "0" } }, allowPositionals: true });
if (positionals.length === 0) {
  console.error("usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile... [--top N] [--skip SECONDS]");
  process.exit(2);
}
for (const file of positionals) summarize(file, Number(values.top), Number(values.skip));
