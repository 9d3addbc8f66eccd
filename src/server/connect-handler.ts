// The HTTP/1.1 side: Connect and gRPC-Web via connect-node, with CORS so
// browsers on another origin (Connect-Web) can call it, and a fallback for
// non-RPC paths (/metrics and the like mount there).
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { type CorsOptions, corsMiddleware } from "./cors.js";
import type { MountedService } from "./mounted-service.js";

/**
 * A Node request handler, connect-node's own type: it takes HTTP/1.1 and
 * HTTP/2-compat requests (for a later TLS/h2 listener) and is an
 * http.RequestListener.
 */
export type HttpHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/** connect-node's options (interceptors, readMaxBytes, shutdownSignal, contextValues, ...) without `routes`. */
export interface ConnectHandlerOptions extends Omit<ConnectNodeAdapterOptions, "routes" | "fallback"> {
  readonly services: readonly MountedService[];
  /** CORS for browsers; defaults to any origin without credentials (see cors.ts). `false` turns it off. */
  readonly cors?: CorsOptions | false;
  /** Serves requests no RPC route matched; default 404. */
  readonly fallback?: HttpHandler;
}

const notFound: HttpHandler = (_req, res) => {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("not found\n");
};

export function createConnectHandler(options: ConnectHandlerOptions): HttpHandler {
  const { services, cors, fallback = notFound, ...routerOptions } = options;
  const rpc = connectNodeAdapter({
    ...routerOptions,
    routes(router) {
      for (const { service, impl } of services) router.service(service, impl);
    },
    fallback,
  });
  return cors === false ? rpc : corsMiddleware(cors ?? {}, rpc);
}
