/** Draining streams from the real clients into plain arrays for assertions. */
import type * as grpc from "@grpc/grpc-js";
import type { StreamMessageResponse } from "../../gen/parley/v1/conversation_service_pb.js";
import type { RunEvent } from "../../gen/parley/v1/events_pb.js";

export interface Drained {
  events: RunEvent[];
  err: grpc.ServiceError | null;
}

export async function drainGrpc(call: grpc.ClientReadableStream<StreamMessageResponse>, onEvent?: (e: RunEvent, all: RunEvent[]) => void): Promise<Drained> {
  const events: RunEvent[] = [];
  return await new Promise((resolve) => {
    let err: grpc.ServiceError | null = null;
    call.on("data", (res: StreamMessageResponse) => {
      if (res.event) {
        events.push(res.event);
        onEvent?.(res.event, events);
      }
    });
    call.on("error", (e: grpc.ServiceError) => (err = e));
    call.on("status", () => setImmediate(() => resolve({ events, err })));
  });
}

export const kinds = (events: RunEvent[]): string[] => events.map((e) => e.event.case ?? "none");

export const textOf = (events: RunEvent[]): string =>
  events.map((e) => (e.event.case === "chunk" ? e.event.value.text : "")).join("");

/** Waits until `check` returns a value, polling; fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | null> | T | undefined | null, timeoutMs = 5000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
