/** Entry point: configuration, the app, and signals. */
import { readFileSync } from "node:fs";
import { ConfigError, isLoopback, loadConfig } from "./config.js";
import { startApp } from "./app.js";
import { createLogger } from "./log.js";

/** The package's version, from src/ (tsx) or dist/src/ (compiled) alike. */
function packageVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "parley" && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return "0.0.0";
}

const version = packageVersion();

const DUPLICATE_SIGNAL_MS = 1000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, version);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (config.auth === "none") logger.warn("PARLEY_AUTH=none: every caller is trusted as the local tenant");
  else if (config.apiKeys.length === 0) logger.warn({ host: config.host }, "no API keys configured: every local caller is the 'local' tenant (admin); set PARLEY_API_KEYS before exposing the port");
  if (!isLoopback(config.host) && config.auth === "none") logger.warn({ host: config.host }, "listening beyond loopback without authentication");

  const app = await startApp(config, logger);
  logger.info(
    { address: `${app.address.host}:${app.address.port}`, provider: config.provider, providerReason: config.providerReason, model: config.model, database: config.databaseUrl.replace(/\/\/[^@/]*@/, "//***@"), version },
    `parley listening on ${app.address.host}:${app.address.port} (provider ${config.provider}: ${config.providerReason})`,
  );

  let stoppingSince: number | null = null;
  const stop = (signal: string) => {
    if (stoppingSince !== null) {
      // Ctrl-C under `npm start` arrives twice (from the terminal and relayed by npm): a repeat
      // within a second is the same request. A later one means "now".
      if (Date.now() - stoppingSince < DUPLICATE_SIGNAL_MS) return;
      logger.warn({ signal }, "second signal: exiting now, without draining");
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down: draining");
    app.drain(config.shutdownGraceMs).then(
      () => {
        logger.info("shut down cleanly");
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`parley: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
