/**
 * Starts the real app on a free loopback port with a temporary SQLite file,
 * and hands out real clients: @grpc/grpc-js (native gRPC over h2c) and
 * Connect / gRPC-Web over HTTP/1.1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { startApp, type App, type AppOverrides } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { ConversationService } from "../../gen/parley/v1/conversation_service_pb.js";
import { grpcClientFor, type GrpcClient } from "../../src/server/grpc-definition.js";

export interface TestServer {
  app: App;
  config: Config;
  address: string;
  baseUrl: string;
  dbPath: string;
  grpc: GrpcClient<typeof ConversationService>;
  connect: Client<typeof ConversationService>;
  grpcWeb: Client<typeof ConversationService>;
  /** Stops the server; keeps the database file unless `removeData`. */
  close(removeData?: boolean): Promise<void>;
}

export function tempDir(prefix = "parley-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestServer(
  env: Record<string, string> = {},
  overrides: AppOverrides = {},
  dataDir = tempDir(),
  /** Where the app's logs go (default: nowhere, at PARLEY_LOG_LEVEL "silent"). */
  logDestination?: NodeJS.WritableStream,
): Promise<TestServer> {
  const dbPath = join(dataDir, "parley.db");
  const config = loadConfig({
    PARLEY_HOST: "127.0.0.1",
    PARLEY_PORT: "0",
    PARLEY_DATABASE_URL: `sqlite:${dbPath}`,
    PARLEY_OFFLINE_TOKEN_DELAY_MS: "0",
    PARLEY_LOG_LEVEL: "silent",
    ...env,
  });
  const app = await startApp(config, logDestination ? createLogger(config.logLevel, logDestination) : pino({ level: config.logLevel }), overrides);
  const address = `${app.address.host}:${app.address.port}`;
  const baseUrl = `http://${address}`;
  const grpcClient = grpcClientFor(ConversationService, address);
  return {
    app,
    config,
    address,
    baseUrl,
    dbPath,
    grpc: grpcClient,
    connect: createClient(ConversationService, createConnectTransport({ baseUrl, httpVersion: "1.1" })),
    grpcWeb: createClient(ConversationService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
    async close(removeData = false) {
      grpcClient.close();
      await app.close();
      if (removeData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function bearer(key: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${key}`);
  return md;
}

/** Promisifies a grpc-js unary call and returns the error instead of throwing. */
export function unary<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
  md: grpc.Metadata = new grpc.Metadata(),
  opts: Partial<grpc.CallOptions> = {},
): Promise<{ err: grpc.ServiceError | null; res: Res | undefined }> {
  return new Promise((resolve) => fn(req, md, opts, (err, res) => resolve({ err, res })));
}

export { grpc };
