/**
 * The load side's @grpc/grpc-js clients: a pool of channels (one HTTP/2
 * connection each), conversation set-up, and one timed turn.
 */
import * as grpc from "@grpc/grpc-js";
import { toBinary } from "@bufbuild/protobuf";
import { ConversationService, StreamMessageResponseSchema, type StreamMessageResponse } from "../../gen/parley/v1/conversation_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { grpcClientFor, type GrpcClient } from "../../src/server/grpc-definition.js";

export type ConvClient = GrpcClient<typeof ConversationService>;
export type HealthClient = GrpcClient<typeof Health>;

/**
 * Channels with their own subchannel pool: grpc-js would otherwise share one
 * connection between every client of the same address.
 */
const CHANNEL_OPTIONS: Partial<grpc.ChannelOptions> = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  // No keepalive pings from the load side: they would count as server work.
  "grpc.keepalive_time_ms": 3_600_000,
};

export class ChannelPool {
  readonly clients: ConvClient[];

  constructor(address: string, channels: number) {
    this.clients = Array.from({ length: Math.max(1, channels) }, () => grpcClientFor(ConversationService, address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
  }

  /** Client for stream number `i`: streams are spread round-robin. */
  at(i: number): ConvClient {
    return this.clients[i % this.clients.length] as ConvClient;
  }

  /** Connects every channel before a measurement starts. */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = new Date(Date.now() + timeoutMs);
    await Promise.all(this.clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(deadline, (err) => (err ? reject(err) : resolve())))));
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

export function healthClient(address: string): HealthClient {
  return grpcClientFor(Health, address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

export async function healthCheck(client: HealthClient): Promise<boolean> {
  return await new Promise((resolve) => {
    client.check({ service: "" }, { deadline: Date.now() + 5000 }, (err, res) => resolve(!err && res?.status === HealthCheckResponse_ServingStatus.SERVING));
  });
}

export async function createConversation(client: ConvClient, title = "bench"): Promise<string> {
  return await new Promise((resolve, reject) => {
    client.createConversation({ conversation: { title } }, (err, res) => {
      if (err || !res?.conversation) reject(err ?? new Error("no conversation"));
      else resolve(res.conversation.id);
    });
  });
}

/** Creates `n` conversations with `concurrency` calls in flight, spread over the pool. */
export async function createConversations(pool: ChannelPool, n: number, concurrency = 64): Promise<string[]> {
  const ids: string[] = new Array<string>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        ids[i] = await createConversation(pool.at(i));
      }
    }),
  );
  return ids;
}

export interface TurnResult {
  ok: boolean;
  /** grpc status code name, "OK" on success. */
  status: string;
  /** ms from the call to the first chunk event (client side); null when none came. */
  ttftMs: number | null;
  /** performance.now() at the call and at the first chunk. */
  sentAt: number;
  firstChunkAt: number | null;
  durationMs: number;
  chunks: number;
  /** Serialized bytes of the chunk messages (only when measured). */
  chunkBytes: number;
  outputTokens: number;
  lastKind: string;
}

export interface TurnOptions {
  measureBytes?: boolean;
  deadlineMs?: number;
  onEvent?: (res: StreamMessageResponse) => void;
}

/** One StreamMessage call, drained and timed. Never rejects. */
export function streamTurn(client: ConvClient, conversationId: string, content: string, opts: TurnOptions = {}): Promise<TurnResult> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    const callOpts: Partial<grpc.CallOptions> = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
    const call = client.streamMessage({ conversationId, content }, callOpts);
    let firstChunkAt: number | null = null;
    let chunks = 0;
    let chunkBytes = 0;
    let outputTokens = 0;
    let lastKind = "none";
    let status = "OK";
    call.on("data", (res: StreamMessageResponse) => {
      const e = res.event?.event;
      lastKind = e?.case ?? "none";
      if (e?.case === "chunk") {
        if (firstChunkAt === null) firstChunkAt = performance.now();
        chunks++;
        if (opts.measureBytes) chunkBytes += toBinary(StreamMessageResponseSchema, res).length;
      } else if (e?.case === "complete") {
        outputTokens = e.value.usage?.outputTokens ?? 0;
      }
      opts.onEvent?.(res);
    });
    call.on("error", (err: grpc.ServiceError) => {
      status = grpc.status[err.code] ?? String(err.code);
    });
    call.on("status", (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) status = grpc.status[s.code] ?? String(s.code);
      // 'status' can come before the last 'data' has been emitted.
      setImmediate(() => {
        const end = performance.now();
        resolve({
          ok: status === "OK" && lastKind === "complete",
          status,
          ttftMs: firstChunkAt === null ? null : firstChunkAt - sentAt,
          sentAt,
          firstChunkAt,
          durationMs: end - sentAt,
          chunks,
          chunkBytes,
          outputTokens,
          lastKind,
        });
      });
    });
  });
}
