/**
 * Object counts and self sizes by constructor in two V8 heap snapshots, and
 * their difference: what a workload left behind between the two.
 *
 *   node --import tsx bench/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top 40]
 *
 * Self sizes only (no dominator tree): enough to see which kind of object
 * grows, and cheap on snapshots of a few hundred MB.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Tally {
  count: number;
  size: number;
}

function tally(path: string): Map<string, Tally> {
  const snap = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const out = new Map<string, Tally>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? "?";
    // Objects and closures by their constructor/function name; the rest (strings, code, arrays) by type.
    const name = type === "object" || type === "closure" || type === "native" ? `${type === "object" ? "" : `(${type}) `}${snap.strings[snap.nodes[i + nameAt] as number]}` : `(${type})`;
    const t = out.get(name) ?? { count: 0, size: 0 };
    t.count++;
    t.size += snap.nodes[i + sizeAt] as number;
    out.set(name, t);
  }
  return out;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" } } });
const [beforePath, afterPath] = positionals;
if (!beforePath || !afterPath) throw new Error("usage: heap-diff.ts before.heapsnapshot after.heapsnapshot");
const before = tally(beforePath);
const after = tally(afterPath);
const rows = [...new Set([...before.keys(), ...after.keys()])].map((name) => {
  const b = before.get(name) ?? { count: 0, size: 0 };
  const a = after.get(name) ?? { count: 0, size: 0 };
  return { name, count: a.count - b.count, size: a.size - b.size, after: a };
});
rows.sort((x, y) => y.size - x.size);
const total = (t: Map<string, Tally>) => [...t.values()].reduce((n, v) => n + v.size, 0);
console.log(`total self size: ${(total(before) / 1048576).toFixed(1)} -> ${(total(after) / 1048576).toFixed(1)} MB`);
console.log("Δsize KB\tΔcount\tcount after\tconstructor");
for (const r of rows.slice(0, Number(values.top))) {
  console.log(`${(r.size / 1024).toFixed(1)}\t${r.count}\t${r.after.count}\t${r.name.slice(0, 100)}`);
}
