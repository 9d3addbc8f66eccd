/**
 * Fails when gen/ or the derived validate.proto are stale: regenerates both
 * into a temporary copy of the contract and compares byte for byte.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const work = mkdtempSync(join(tmpdir(), "parley-gen-"));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function compare(a: string, b: string, label: string): string[] {
  const problems: string[] = [];
  const left = new Set(files(a).map((f) => relative(a, f)));
  const right = new Set(files(b).map((f) => relative(b, f)));
  for (const f of left) {
    if (!right.has(f)) problems.push(`${label}/${f} would be deleted`);
    else if (!readFileSync(join(a, f)).equals(readFileSync(join(b, f)))) problems.push(`${label}/${f} is stale`);
  }
  for (const f of right) if (!left.has(f)) problems.push(`${label}/${f} is missing`);
  return problems;
}

try {
  for (const name of ["proto", "scripts", "buf.yaml", "buf.gen.yaml", "package.json"]) cpSync(join(root, name), join(work, name), { recursive: true });
  const env = { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env["PATH"] ?? ""}` };
  // The derive script resolves @bufbuild/protovalidate from the copy; link node_modules so it can.
  symlinkSync(join(root, "node_modules"), join(work, "node_modules"), "dir");
  execFileSync("tsx", ["scripts/derive-validate-proto.ts"], { cwd: work, env, stdio: "pipe" });
  execFileSync("buf", ["generate"], { cwd: work, env, stdio: "pipe" });
  const problems = [...compare(join(work, "gen"), join(root, "gen"), "gen"), ...compare(join(work, "proto"), join(root, "proto"), "proto")];
  if (problems.length > 0) {
    console.error(`generated code is out of date (run \`npm run generate\` and commit):\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log("gen/ and proto/buf/validate/validate.proto are up to date");
} finally {
  rmSync(work, { recursive: true, force: true });
}
