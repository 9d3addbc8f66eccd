/**
 * `npm run sim`: the model simulator as a standalone server, for manual runs
 * and benchmarks. Point Parley at it with its OpenAI base URL setting.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseScenarioFile, type ScenarioFile } from "./scenario.js";
import { startSimulator } from "./server.js";

const DEFAULT_PORT = 11435;

const USAGE = `usage: npm run sim -- [--port ${DEFAULT_PORT}] [--host 127.0.0.1] [--scenarios FILE] [--ttft-ms N] [--token-delay-ms N] [--lenient]
  --scenarios FILE  JSON { "defaults": Scenario, "scenarios": { name: Scenario } }; see test/sim/scenarios.example.json
  --lenient         accept tool-call histories the real API rejects
A request picks a named scenario with the header "x-sim-scenario: NAME" or with "model": "NAME".`;

function nonNegative(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      scenarios: { type: "string" },
      "ttft-ms": { type: "string" },
      "token-delay-ms": { type: "string" },
      lenient: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const file: ScenarioFile = values.scenarios ? parseScenarioFile(readFileSync(values.scenarios, "utf8")) : {};
  const defaults = { ...file.defaults };
  const ttftMs = nonNegative("--ttft-ms", values["ttft-ms"]);
  const tokenDelayMs = nonNegative("--token-delay-ms", values["token-delay-ms"]);
  // Flags win over the file, so one file serves both fast and slow runs.
  defaults.pacing = { ...defaults.pacing, ...(ttftMs !== undefined ? { ttftMs } : {}), ...(tokenDelayMs !== undefined ? { tokenDelayMs } : {}) };

  const sim = await startSimulator({
    host: values.host,
    port: nonNegative("--port", values.port) ?? DEFAULT_PORT,
    defaults,
    scenarios: file.scenarios ?? {},
    strict: !values.lenient,
    log: (line) => console.log(line),
  });
  console.log(`simulator listening on ${sim.url}`);
  const names = Object.keys(file.scenarios ?? {});
  if (names.length > 0) console.log(`scenarios: ${names.join(", ")}`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping after ${sim.stats.requests} requests`);
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  console.error(USAGE);
  process.exit(2);
});
