/**
 * The separate metrics port (PARLEY_METRICS_PORT). A port that is taken
 * must not stop the service: it logs and serves without it.
 */
import http from "node:http";
import type { Logger } from "pino";
import type { HttpRoute } from "./http-routes.js";

export interface MetricsServer {
  port: number | null;
  close(): Promise<void>;
}

export async function startMetricsServer(host: string, port: number, route: HttpRoute, logger: Logger): Promise<MetricsServer> {
  const server = http.createServer(route);
  const bound = await new Promise<boolean>((resolve) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      logger.warn({ port, code: err.code }, `metrics port ${port} unavailable (${err.code ?? err.message}); serving without /metrics on it`);
      resolve(false);
    });
    server.listen(port, host, () => resolve(true));
  });
  if (!bound) return { port: null, close: async () => {} };
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined),
  };
}
