/**
 * Baseline: a bare @grpc/grpc-js server with one server-streaming method that
 * writes N messages of a given byte size, respecting write() and 'drain' —
 * the transport's own cost per message, with no agent, store or protobuf.
 *
 *   BENCH_PORT=50099 node --import tsx bench/baselines/bare-grpc.ts
 *
 * Prints `ready <port>` on stdout once bound to 127.0.0.1.
 */
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { bareDefinition, type BareRequest } from "../lib/bare-def.js";

async function handle(call: grpc.ServerWritableStream<BareRequest, Buffer>): Promise<void> {
  const { n, size } = call.request;
  // One buffer per message, as a real server serializes each message anew.
  const template = Buffer.alloc(size, 0x61);
  for (let i = 0; i < n; i++) {
    if (call.cancelled) return;
    if (!call.write(Buffer.from(template))) await once(call, "drain");
  }
  call.end();
}

async function main(): Promise<void> {
  const port = Number(process.env["BENCH_PORT"] ?? "0");
  const server = new grpc.Server();
  server.addService(bareDefinition, {
    stream: (call: grpc.ServerWritableStream<BareRequest, Buffer>) => {
      handle(call).catch(() => call.destroy());
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.stdout.write(`ready ${bound}\n`);
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare-grpc: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
