/**
 * Observes every RPC from its start to its end, whichever engine served it:
 * for unary calls the end is the response, for streams the last message
 * sent, the handler's failure, or the caller going away. connect-node
 * resolves `next()` of a streaming call before the handler runs, so a
 * stream's end can only be seen by wrapping its messages.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { DescMessage } from "@bufbuild/protobuf";

/** A gRPC status code: Connect's codes, plus 0 for OK (Connect has no value for success). */
export type StatusCode = Code | 0;

export const OK = 0;

const statusNames = new Map<StatusCode, string>();

/** The gRPC name of a status code: "OK", "CANCELLED", "UNAVAILABLE". Kept per code: every call ends with one. */
export function statusName(code: StatusCode): string {
  let name = statusNames.get(code);
  if (name === undefined) {
    name = code === OK ? "OK" : (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase().replace("CANCELED", "CANCELLED");
    statusNames.set(code, name);
  }
  return name;
}

type UnaryRequest = Parameters<Parameters<Interceptor>[0]>[0];

export interface CallInfo {
  /** `pkg.Service/Method` */
  method: string;
  /** The wire protocol, from the request's content type. */
  system: "grpc" | "grpc_web" | "connectrpc";
  header: Headers;
  contextValues: UnaryRequest["contextValues"];
}

/** Called when a call starts; returns what to call when it ends. */
export type CallObserver = (info: CallInfo) => (code: StatusCode, durationS: number, error: ConnectError | null) => void;

function systemOf(contentType: string | null): CallInfo["system"] {
  if (!contentType) return "connectrpc";
  if (contentType.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connectrpc";
}

export function observeCalls(observers: CallObserver[]): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const info: CallInfo = {
      method: `${req.service.typeName}/${req.method.name}`,
      system: systemOf(req.header.get("content-type")),
      header: req.header,
      contextValues: req.contextValues,
    };
    const ends = observers.map((o) => o(info));
    let ended = false;
    const end = (code: StatusCode, err: ConnectError | null) => {
      if (ended) return;
      ended = true;
      const duration = (performance.now() - started) / 1000;
      for (const e of ends) e(code, duration, err);
    };
    let res;
    try {
      res = await next(req);
    } catch (e) {
      const err = ConnectError.from(e);
      end(err.code, err);
      throw e;
    }
    if (!res.stream) {
      end(OK, null);
      return res;
    }
    return { ...res, message: observed(res.message, req.signal, end) } as StreamResponse<DescMessage, DescMessage>;
  };
}

/**
 * The messages of a stream, reporting its end. A hand-written iterator, not
 * an async generator: every message of every stream passes through here, and
 * a generator layer costs a few promises (each paying Node's async hooks)
 * per message.
 */
function observed<T>(messages: AsyncIterable<T>, signal: AbortSignal, end: (code: StatusCode, err: ConnectError | null) => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      let finished = false;
      const fail = (e: unknown): never => {
        finished = true;
        // A write failing because the caller went away (connect-node over HTTP/1.1) is the caller's cancel.
        const err = signal.aborted ? ConnectError.from(signal.reason) : ConnectError.from(e);
        end(signal.aborted && err.code === Code.Unknown ? Code.Canceled : err.code, signal.aborted ? null : err);
        throw e;
      };
      const settle = (result: IteratorResult<T>): IteratorResult<T> => {
        if (result.done === true && !finished) {
          finished = true;
          end(OK, null);
        }
        return result;
      };
      return {
        next: () => it.next().then(settle, fail),
        return: (value?: unknown): Promise<IteratorResult<T>> => {
          // Neither finished nor failed: the caller stopped reading (cancel, deadline).
          if (!finished) {
            finished = true;
            end(signal.aborted ? ConnectError.from(signal.reason).code : Code.Canceled, null);
          }
          return it.return ? it.return(value) : Promise.resolve({ done: true, value: undefined as T });
        },
        throw: (e?: unknown): Promise<IteratorResult<T>> => (it.throw ? it.throw(e).then(settle, fail) : Promise.reject(e)),
      };
    },
  };
}
