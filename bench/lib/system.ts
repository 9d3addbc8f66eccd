/** Machine-wide readings, so a result says how busy the machine was besides the benchmark. */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

const CLK_TCK = 100;

/** CPU time spent busy by the whole machine (all cores), in µs, from /proc/stat. */
export function machineBusyMicros(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return (busy * 1_000_000) / CLK_TCK;
}

export function loadAverage(): number[] {
  return readFileSync("/proc/loadavg", "utf8").trim().split(/\s+/).slice(0, 3).map(Number);
}

export function machine(): { cores: number; cpu: string; node: string; platform: string } {
  const list = cpus();
  return { cores: list.length, cpu: list[0]?.model ?? "unknown", node: process.version, platform: `${process.platform} ${process.arch}` };
}
