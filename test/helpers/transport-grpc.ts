// Promise wrappers around grpc-js client calls, for the transport tests.
import * as grpc from "@grpc/grpc-js";

export interface UnaryResult<O> {
  response: O;
  header: grpc.Metadata | undefined;
  status: grpc.StatusObject;
}

interface CallArgs {
  metadata?: grpc.Metadata;
  options?: Partial<grpc.CallOptions>;
}

/** Collects a single-response call; rejects with the grpc-js ServiceError. */
function settle<O>(
  start: (callback: grpc.requestCallback<O>) => grpc.ClientUnaryCall | grpc.ClientWritableStream<never>,
): Promise<UnaryResult<O>> {
  return new Promise((resolve, reject) => {
    let header: grpc.Metadata | undefined;
    let response: O | undefined;
    let failed: grpc.ServiceError | undefined;
    const call = start((err, value) => {
      if (err) failed = err;
      else response = value;
    });
    call.on("metadata", (md: grpc.Metadata) => (header = md));
    // 'status' comes after the callback and carries the trailers.
    call.on("status", (status: grpc.StatusObject) => {
      if (failed !== undefined) reject(failed);
      else resolve({ response: response as O, header, status });
    });
  });
}

/** A unary call through a bound generic-client method, e.g. `unary(c.check.bind(c), req)`. */
export function unary<I, O>(
  method: (req: I, md: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: grpc.requestCallback<O>) => grpc.ClientUnaryCall,
  request: I,
  { metadata = new grpc.Metadata(), options = {} }: CallArgs = {},
): Promise<UnaryResult<O>> {
  return settle<O>((cb) => method(request, metadata, options, cb));
}

/** A client-streaming call: `send` writes the requests and ends the stream. */
export function clientStream<I, O>(
  method: (md: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: grpc.requestCallback<O>) => grpc.ClientWritableStream<I>,
  send: (call: grpc.ClientWritableStream<I>) => void,
  { metadata = new grpc.Metadata(), options = {} }: CallArgs = {},
): Promise<UnaryResult<O>> {
  return settle<O>((cb) => {
    const call = method(metadata, options, cb);
    send(call);
    return call as unknown as grpc.ClientWritableStream<never>;
  });
}

export interface StreamResult<O> {
  messages: O[];
  header: grpc.Metadata | undefined;
  status: grpc.StatusObject;
  error: grpc.ServiceError | undefined;
}

/** Reads a response stream to its end; a non-OK status is returned, not thrown. */
export function readAll<O>(stream: grpc.ClientReadableStream<O> | grpc.ClientDuplexStream<never, O>): Promise<StreamResult<O>> {
  return new Promise((resolve) => {
    const messages: O[] = [];
    let header: grpc.Metadata | undefined;
    let error: grpc.ServiceError | undefined;
    stream.on("metadata", (md: grpc.Metadata) => (header = md));
    stream.on("data", (m: O) => messages.push(m));
    stream.on("error", (e: grpc.ServiceError) => (error = e));
    stream.on("status", (status: grpc.StatusObject) => {
      // 'status' can precede the last 'data'/'end'; let them land first.
      setImmediate(() => resolve({ messages, header, status, error }));
    });
  });
}

/** The next message of a stream. */
export function nextMessage<O>(stream: grpc.ClientReadableStream<O> | grpc.ClientDuplexStream<never, O>): Promise<O> {
  return new Promise((resolve, reject) => {
    const onData = (m: O) => {
      stream.off("error", onError);
      resolve(m);
    };
    const onError = (e: Error) => {
      stream.off("data", onData);
      reject(e);
    };
    stream.once("data", onData);
    stream.once("error", onError);
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds or `timeoutMs` passes. */
export async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
