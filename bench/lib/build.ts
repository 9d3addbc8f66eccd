/**
 * Ahead-of-time transpilation for the benchmark's child processes.
 *
 * Under `node --import tsx`, every module (node_modules included) goes
 * through tsx's loader hooks on Node 20's hooks thread: the server needs
 * about 8 s to start here, and a run starts a dozen processes. The
 * benchmark therefore transpiles src/, gen/, bench/ and test/sim/ once per
 * run with esbuild (the transform tsx itself applies, no bundling, no type
 * check) into a temporary directory next to a symlink to node_modules, and
 * runs `node <dir>/src/main.js` — as production runs `node dist/src/main.js`.
 * `--tsx` runs everything from source instead.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { REPO_ROOT } from "./proc.js";

const ROOTS = ["src", "gen", "bench", "test/sim"];

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules" || name === "results" || name.startsWith(".")) continue;
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

export interface BuildOutput {
  dir: string;
  files: number;
  ms: number;
  remove(): void;
}

export async function buildForBench(): Promise<BuildOutput> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-build-"));
  const entryPoints = ROOTS.flatMap((r) => tsFiles(join(REPO_ROOT, r)));
  await build({
    entryPoints,
    outdir: dir,
    outbase: REPO_ROOT,
    format: "esm",
    platform: "node",
    target: "node20",
    bundle: false,
    logLevel: "error",
  });
  // src/main.ts reads ../package.json; "type": "module" makes the .js files ESM.
  cpSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return {
    dir,
    files: entryPoints.length,
    ms: performance.now() - t0,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
