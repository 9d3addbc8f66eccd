// One TCP port for every caller: h2c connections go to grpc-js, HTTP/1.1 ones
// to an http.Server running the Connect handler. Neither server listens
// itself; this net.Server accepts, sniffs and hands sockets over.
//
// grpc-js: `createConnectionInjector` works without `bindAsync`, and
// `start()` (deprecated, and it throws when nothing is bound) is not needed.
import * as http from "node:http";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { SniffError, sniffProtocol } from "./sniff.js";

/** The subset of a pino logger this module uses. */
export interface ListenerLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ListenerOptions {
  readonly host: string;
  /** 0 picks a free port; `address()` tells which. */
  readonly port: number;
  readonly grpcServer: grpc.Server;
  readonly httpHandler: http.RequestListener;
  readonly logger?: ListenerLogger;
  /** Options for the internal HTTP/1.1 server (timeouts, header limits). */
  readonly httpServerOptions?: http.ServerOptions;
  /** How long a new connection may stay silent before it is dropped (default 10 s). */
  readonly sniffTimeoutMs?: number;
  /** How long close() lets open calls finish before it cuts connections (default 5 s). */
  readonly closeGraceMs?: number;
}

export interface Listener {
  address(): { host: string; port: number };
  /** Stops accepting, lets open calls finish for the grace time, then destroys what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function startListener(options: ListenerOptions): Promise<Listener> {
  const { grpcServer, logger } = options;
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const httpServer = http.createServer(options.httpServerOptions ?? {}, options.httpHandler);
  const sockets = new Set<net.Socket>();
  const sniffing = new Set<net.Socket>();
  const netServer = net.createServer({ noDelay: true });

  netServer.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Until an owner attaches its own handler, a reset must not crash us.
    socket.on("error", (err) => logger?.debug({ err }, "connection error"));
    sniffing.add(socket);
    sniffProtocol(socket, options.sniffTimeoutMs).then(
      (protocol) => {
        sniffing.delete(socket);
        if (socket.destroyed) return;
        if (protocol === "http2") injector.injectConnection(socket);
        else httpServer.emit("connection", socket);
      },
      (err: unknown) => {
        sniffing.delete(socket);
        if (!(err instanceof SniffError)) logger?.warn({ err }, "protocol sniffing failed");
        socket.destroy();
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    netServer.once("error", reject);
    netServer.listen(options.port, options.host, () => {
      netServer.off("error", reject);
      resolve();
    });
  });
  netServer.on("error", (err) => logger?.warn({ err }, "listener error"));
  // Node starts an http.Server's connection tracking on 'listening', which
  // ours never emits by itself: without it headersTimeout/requestTimeout are
  // not enforced and closeIdleConnections() finds nothing to close.
  httpServer.emit("listening");

  let closing: Promise<void> | undefined;
  return {
    address() {
      const address = netServer.address() as net.AddressInfo;
      return { host: address.address, port: address.port };
    },
    close(graceMs = options.closeGraceMs ?? 5_000) {
      closing ??= shutdown(graceMs);
      return closing;
    },
  };

  async function shutdown(graceMs: number): Promise<void> {
    const accepting = new Promise<void>((resolve) => netServer.close(() => resolve()));
    // Connections that never said anything have no call to finish.
    for (const socket of sniffing) socket.destroy();
    // Keep-alive HTTP/1.1 connections with no request in flight go at once;
    // busy ones after their response. grpc-js sends GOAWAY and waits for calls.
    httpServer.close();
    httpServer.closeIdleConnections();
    const graceful = Promise.all([
      accepting,
      new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([graceful, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      logger?.warn({ open: sockets.size, graceMs }, "closing listener: grace time over, cutting connections");
      grpcServer.forceShutdown();
      httpServer.closeAllConnections();
    }
    for (const socket of sockets) socket.destroy();
    await accepting;
  }
}
