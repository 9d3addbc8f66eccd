/**
 * Plain HTTP/1.1 endpoints beside the RPCs: `/healthz` (liveness: the
 * process answers), `/readyz` (readiness: the server's health is SERVING)
 * and `/metrics` (Prometheus), for tools that don't speak gRPC.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { HealthRegistry } from "./health.js";

export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => void;

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(body + "\n");
}

/** A call to a method no service has: answered as UNIMPLEMENTED in the caller's protocol. */
function unimplemented(req: IncomingMessage, res: ServerResponse, path: string): void {
  const type = req.headers["content-type"] ?? "";
  const message = `no such method ${path}`;
  if (type.startsWith("application/grpc")) {
    // gRPC-Web: HTTP 200 with the status in the headers (a trailers-only response).
    res.writeHead(200, { "content-type": type, "grpc-status": "12", "grpc-message": encodeURIComponent(message) });
    res.end();
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
}

const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

export function probeRoutes(health: HealthRegistry, metrics: HttpRoute | null): HttpRoute {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method === "POST" && !PROBES.has(path)) return unimplemented(req, res, path);
    if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "method not allowed");
    switch (path) {
      case "/healthz":
        return text(res, 200, "ok");
      case "/readyz": {
        const serving = health.get("") === ServingStatus.SERVING;
        return text(res, serving ? 200 : 503, serving ? "ready" : "not ready");
      }
      case "/metrics":
        if (metrics) return metrics(req, res);
        return text(res, 404, "metrics are served on PARLEY_METRICS_PORT");
      default:
        return text(res, 404, "not found");
    }
  };
}
