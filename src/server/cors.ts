// CORS for Connect / gRPC-Web from browsers, from Connect's own header lists.
//
// Default: any origin (`*`) and never credentials. Parley authenticates with
// an `authorization: Bearer` header, not cookies, so a foreign page can only
// call with a key it already holds; `*` then exposes nothing a browser would
// not already send on the user's behalf. Restrict `allowedOrigins` where the
// browser callers are known.
import { cors as connectCors } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

export interface CorsOptions {
  /** `"*"` (default) or exact origins such as `https://app.example.com`. */
  readonly allowedOrigins?: "*" | readonly string[];
  /** Request headers beyond Connect's and `authorization`. */
  readonly allowedHeaders?: readonly string[];
  /** Response headers beyond Connect's that scripts may read. */
  readonly exposedHeaders?: readonly string[];
  /** How long browsers may cache a preflight (default 2 h, Chrome's cap). */
  readonly maxAgeSeconds?: number;
}

type Handler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export function corsMiddleware(options: CorsOptions, next: Handler): Handler {
  const origins = options.allowedOrigins ?? "*";
  const allowMethods = connectCors.allowedMethods.join(", ");
  const allowHeaders = [...connectCors.allowedHeaders, "authorization", ...(options.allowedHeaders ?? [])].join(", ");
  const exposeHeaders = [...connectCors.exposedHeaders, ...(options.exposedHeaders ?? [])].join(", ");
  const maxAge = String(options.maxAgeSeconds ?? 7200);

  /** The Access-Control-Allow-Origin value for this request, if it is allowed. */
  const allowOrigin = (origin: string | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    if (origins === "*") return "*";
    return origins.includes(origin) ? origin : undefined;
  };

  return (req, res) => {
    const allowed = allowOrigin(req.headers.origin);
    if (allowed !== undefined && origins !== "*") res.setHeader("vary", "Origin");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      // Preflight: answered here, never reaches the RPC router.
      if (allowed !== undefined) {
        res.setHeader("access-control-allow-origin", allowed);
        res.setHeader("access-control-allow-methods", allowMethods);
        res.setHeader("access-control-allow-headers", allowHeaders);
        res.setHeader("access-control-max-age", maxAge);
      }
      res.writeHead(204);
      res.end();
      return;
    }
    if (allowed !== undefined) {
      res.setHeader("access-control-allow-origin", allowed);
      res.setHeader("access-control-expose-headers", exposeHeaders);
    }
    next(req, res);
  };
}
