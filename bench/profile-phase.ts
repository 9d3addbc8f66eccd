/**
 * What the CPU did inside one phase of a turn: self and inclusive time of
 * the samples of a profile written by `bench/ttft-trace.ts` that fall
 * between two of its marks, per turn.
 *
 *   node --import tsx bench/profile-phase.ts <out.cpuprofile> <from-mark> <to-mark> [--top N]
 *
 * Samples are weighted by the time to the next sample, capped at 5 ms: on a
 * busy shared machine a descheduled process shows as one huge gap, which
 * would otherwise land on whatever frame happened to be sampled.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Profile, ProfileNode } from "./lib/cpuprofile.js";


const MAX_WEIGHT_US = 5000;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } });
const [file, from, to] = positionals;
if (!file || !from || !to) {
  process.stderr.write("usage: profile-phase.ts <out.cpuprofile> <from-mark> <to-mark> [--top N]\n");
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const marks = JSON.parse(readFileSync(`${file}.marks.json`, "utf8")) as Array<Record<string, number | undefined>>;
const windows = marks.flatMap((m) => {
  const a = m[from];
  const b = m[to];
  return a !== undefined && b !== undefined ? [[a, b] as const] : [];
});

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|bench|test|gen)\//, "$1/");
  return `${n.callFrame.functionName || "(anonymous)"}  ${url}:${n.callFrame.lineNumber + 1}`;
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  if (!windows.some(([a, b]) => t >= a && t < b)) continue;
  const weight = Math.min(profile.timeDeltas[i + 1] ?? 0, MAX_WEIGHT_US);
  const stack: ProfileNode[] = [];
  for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const node = byId.get(id);
    if (node) stack.push(node);
  }
  const leaf = stack[0];
  if (!leaf || leaf.callFrame.functionName === "(idle)") continue;
  busy += weight;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + weight);
  for (const key of new Set(stack.map(label))) inclusive.set(key, (inclusive.get(key) ?? 0) + weight);
}

const perTurn = (us: number): string => (us / windows.length / 1000).toFixed(3).padStart(7);
console.log(`${from} → ${to}: ${windows.length} turns, ${perTurn(busy).trim()} ms busy a turn`);
for (const [title, table] of [["self", self], ["inclusive", inclusive]] as const) {
  console.log(`\n  ${title} (ms a turn):`);
  for (const [key, us] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${perTurn(us)}  ${key}`);
}
