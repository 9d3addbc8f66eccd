// Mounts Connect-shaped handlers (ServiceImpl) on a grpc-js Server, so one
// implementation serves native gRPC (grpc-js) and Connect/gRPC-Web
// (connect-node) with the same context, abort reasons, errors and
// interceptors.
//
// The handler invocation itself (interceptors, message normalisation,
// Unimplemented for missing methods) is Connect's own, from
// @connectrpc/connect/protocol, so both engines run the identical path; that
// module is marked internal by Connect, which is why package.json pins
// @connectrpc/connect exactly.
import type { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { create, isMessage, type DescMessage, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createServiceImplSpec,
  type ContextValues,
  type Interceptor,
  type MethodImplSpec,
  type ServiceImpl,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import {
  createAsyncIterable,
  invokeUnaryImplementation,
  transformInvokeImplementation,
} from "@connectrpc/connect/protocol";
import { createCallContext, type CallContext } from "./call-context.js";
import { grpcMethodPath, grpcServiceDefinition, MalformedRequest } from "./grpc-definition.js";
import { headersFromMetadata, metadataFromHeaders } from "./grpc-metadata.js";
import { grpcStatusFor, publicError } from "./grpc-status.js";
import type { MountedService } from "./mounted-service.js";

type Msg = MessageShape<DescMessage>;
type Spec = MethodImplSpec;

export type GrpcServerCall =
  | grpc.ServerUnaryCall<Msg, Msg>
  | grpc.ServerReadableStream<Msg, Msg>
  | grpc.ServerWritableStream<Msg, Msg>
  | grpc.ServerDuplexStream<Msg, Msg>;

type WritableCall = grpc.ServerWritableStream<Msg, Msg> | grpc.ServerDuplexStream<Msg, Msg>;
type ReadableCall = grpc.ServerReadableStream<Msg, Msg> | grpc.ServerDuplexStream<Msg, Msg>;

export interface GrpcAdapterOptions {
  /** Connect interceptors, applied exactly as connect-node applies them. */
  readonly interceptors?: Interceptor[];
  /** Aborts every handler's ctx.signal (graceful shutdown), like connect-node's option. */
  readonly shutdownSignal?: AbortSignal;
  readonly contextValues?: (call: GrpcServerCall) => ContextValues;
  /** Called with the real cause when a handler throws something other than a ConnectError. */
  readonly onInternalError?: (error: unknown, method: DescMethod) => void;
}

// grpc-js arms its own deadline timer when the call starts and fires
// "cancelled" when it expires; timers can run a little early against
// Date.now(), so a cancel this close to the deadline counts as the deadline.
const deadlineToleranceMs = 20;

/** Mounts `impl` for `service` on `server`. Methods left out answer UNIMPLEMENTED, as on connect-node. */
export function addToGrpcServer<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcAdapterOptions = {},
): void {
  const spec = createServiceImplSpec(service, impl);
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const methodSpec = spec.methods[method.localName];
    if (methodSpec !== undefined) handlers[method.localName] = handlerFor(methodSpec, options);
  }
  server.addService(grpcServiceDefinition(service), handlers);
}

export function addServicesToGrpcServer(
  server: grpc.Server,
  services: readonly MountedService[],
  options: GrpcAdapterOptions = {},
): void {
  for (const { service, impl } of services) addToGrpcServer(server, service, impl, options);
}

function handlerFor(spec: Spec, options: GrpcAdapterOptions): grpc.UntypedHandleCall {
  const interceptors = options.interceptors ?? [];
  switch (spec.kind) {
    case "unary":
      return ((call, callback) => {
        const open = openCall(call, spec.method, options);
        const request = call.request as unknown;
        const response = request instanceof MalformedRequest ? Promise.reject(malformed(request)) : invokeUnaryImplementation(spec, open.ctx, call.request, interceptors);
        respondOnce(call, open, callback, response, options);
      }) satisfies grpc.handleUnaryCall<Msg, Msg>;
    case "client_streaming":
      return ((call, callback) => {
        const open = openCall(call, spec.method, options);
        const output = transformInvokeImplementation(spec, open.ctx, interceptors)(readRequests(call, open));
        respondOnce(call, open, callback, firstMessage(output), options);
      }) satisfies grpc.handleClientStreamingCall<Msg, Msg>;
    case "server_streaming":
      return ((call) => {
        const open = openCall(call, spec.method, options);
        const request = call.request as unknown;
        const output = request instanceof MalformedRequest ? rejecting(malformed(request)) : invokeServerStreaming(spec, open.ctx, call.request, interceptors);
        pump(call, open, output, options).catch((err: unknown) => options.onInternalError?.(err, spec.method));
      }) satisfies grpc.handleServerStreamingCall<Msg, Msg>;
    case "bidi_streaming":
      return ((call) => {
        const open = openCall(call, spec.method, options);
        const output = transformInvokeImplementation(spec, open.ctx, interceptors)(readRequests(call, open));
        pump(call, open, output, options).catch((err: unknown) => options.onInternalError?.(err, spec.method));
      }) satisfies grpc.handleBidiStreamingCall<Msg, Msg>;
  }
}

/**
 * Whether grpc-js ended the call, and why. A plain latch rather than an
 * AbortController: a call already pays for the handler context's signals, and
 * on Node 20 every controller, listener and default abort reason (a
 * DOMException with its stack) is measurable per call.
 */
interface CallEnded {
  aborted: boolean;
  reason: unknown;
  /** The one waiter (the pump waiting for 'drain'), woken when the call ends. */
  wake: (() => void) | null;
}

/**
 * The context's signal aborts when a call is over, as on connect-node. With
 * no reason Node would build a DOMException (and its stack trace) for every
 * call that succeeded; this one is made once.
 */
const callOver = new ConnectError("the call is over", Code.Canceled);

/** The per-call state shared by the four call shapes. */
interface OpenCall {
  readonly method: DescMethod;
  readonly ctx: CallContext;
  /** Set once grpc-js ended the call without us (client cancel, deadline, connection loss). */
  readonly ended: CallEnded;
  /** Claims the right to send the status; false if the call already ended. */
  finish(error?: ConnectError): boolean;
}

/**
 * grpc-js keeps the reserved `content-type` out of call metadata; put it back
 * so code reading the request headers (the protocol label of metrics and
 * logs) sees the same as on connect-node's gRPC path.
 */
function withGrpcContentType(headers: Headers): Headers {
  if (!headers.has("content-type")) headers.set("content-type", "application/grpc");
  return headers;
}

function openCall(call: GrpcServerCall, method: DescMethod, options: GrpcAdapterOptions): OpenCall {
  const deadline = call.getDeadline();
  const deadlineAt = deadline instanceof Date ? deadline.getTime() : deadline;
  const hasDeadline = Number.isFinite(deadlineAt);
  const ctx = createCallContext({
    method,
    url: `http://${call.getHost()}${grpcMethodPath(method)}`,
    deadlineAt: hasDeadline ? deadlineAt : undefined,
    shutdownSignal: options.shutdownSignal,
    requestHeader: withGrpcContentType(headersFromMetadata(call.metadata)),
    contextValues: options.contextValues?.(call),
  });
  const ended: CallEnded = { aborted: false, reason: undefined, wake: null };
  let finished = false;
  const onCancelled = () => {
    if (finished) return;
    finished = true;
    const reason =
      hasDeadline && Date.now() >= deadlineAt - deadlineToleranceMs
        ? new ConnectError("the operation timed out", Code.DeadlineExceeded)
        : new ConnectError("the client cancelled the call", Code.Canceled);
    ended.aborted = true;
    ended.reason = reason;
    ended.wake?.();
    ctx.abort(reason);
  };
  // grpc-js emits "cancelled" after every status it sends, OK ones included;
  // only one that arrives before we finished means the caller went away.
  (call as EventEmitter).on("cancelled", onCancelled);
  // A call can be over before its handler ran; then no event will come.
  if (call.cancelled) onCancelled();
  return {
    method,
    ctx,
    ended,
    finish(error) {
      if (finished) return false;
      finished = true;
      // As connect-node: the signal aborts when the call is over, with the error if it failed.
      ctx.abort(error ?? callOver);
      return true;
    },
  };
}

/** Maps a handler's failure to the error sent, reporting hidden causes. */
function failure(open: OpenCall, reason: unknown, options: GrpcAdapterOptions): ConnectError {
  const { error, internal } = publicError(reason);
  if (internal) options.onInternalError?.(reason, open.method);
  return error;
}

/** Unary and client-streaming: one response message, or an error. */
function respondOnce(
  call: grpc.ServerUnaryCall<Msg, Msg> | grpc.ServerReadableStream<Msg, Msg>,
  open: OpenCall,
  callback: grpc.sendUnaryData<Msg>,
  result: Promise<Msg>,
  options: GrpcAdapterOptions,
): void {
  const { ctx } = open;
  const succeed = (message: Msg) => {
    if (!open.finish()) return;
    // sendUnaryData has no header argument: send them first ourselves.
    call.sendMetadata(metadataFromHeaders(ctx.responseHeader));
    callback(null, message, grpcStatusFor(undefined, ctx.responseTrailer).metadata);
  };
  const fail = (reason: unknown) => {
    // After a cancel or deadline the caller is gone: nothing to report.
    if (open.ended.aborted) return;
    const error = failure(open, reason, options);
    if (!open.finish(error)) return;
    const status = grpcStatusFor(error, ctx.responseTrailer, ctx.responseHeader);
    callback({ code: status.code, details: status.details, metadata: status.metadata }, null, status.metadata);
  };
  result
    .then(succeed, fail)
    // Only our own code runs past this point; still never an unhandled rejection.
    .catch((err: unknown) => options.onInternalError?.(err, open.method));
}

async function firstMessage(output: AsyncIterable<Msg>): Promise<Msg> {
  for await (const message of output) return message;
  throw new ConnectError("protocol error: missing output message for unary method", Code.Internal);
}

/** A request message grpc-js could not parse is the caller's error, refused before any handler runs. */
const malformed = (m: MalformedRequest) => new ConnectError(`malformed request message: ${m.reason}`, Code.InvalidArgument);

/** A stream that fails with `error` on its first read. */
function rejecting(error: ConnectError): AsyncIterable<Msg> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
}

/**
 * A server-streaming call through the interceptors, as Connect's
 * `transformInvokeImplementation` does it, but without its generator layers:
 * that function is down-levelled to `__asyncGenerator`/`__asyncDelegator`
 * helpers that cost several promises per message, and every event of every
 * turn passes through here. The request and response shapes are Connect's
 * (`StreamRequest`/`StreamResponse`), so interceptors see the same call on
 * both engines.
 */
function invokeServerStreaming(spec: Extract<Spec, { kind: "server_streaming" }>, ctx: CallContext, input: Msg, interceptors: Interceptor[]): AsyncIterable<Msg> {
  const { method } = spec;
  const output = method.output;
  const request = createAsyncIterable([input]);
  const anyFn = async (req: StreamRequest<DescMessage>): Promise<StreamResponse<DescMessage, DescMessage>> => {
    // An interceptor may have replaced the request; then read its one message, as Connect does.
    const message = req.message === request ? input : await onlyMessage(req.message);
    return {
      stream: true,
      service: method.parent,
      method,
      header: ctx.responseHeader,
      trailer: ctx.responseTrailer,
      message: spec.impl(message, { ...ctx, service: req.service, requestHeader: req.header, signal: req.signal, values: req.contextValues }) as AsyncIterable<Msg>,
    };
  };
  const next = interceptors.reduceRight<StreamingHandlerFn>((fn, interceptor) => interceptor(fn as never) as StreamingHandlerFn, anyFn);
  return {
    [Symbol.asyncIterator]() {
      let messages: AsyncIterator<Msg> | undefined;
      let trailer: Headers | undefined;
      const start = async (): Promise<AsyncIterator<Msg>> => {
        const res = await next({
          stream: true, service: method.parent, method, requestMethod: ctx.requestMethod, url: ctx.url,
          signal: ctx.signal, header: ctx.requestHeader, contextValues: ctx.values, message: request,
        });
        copyHeaders(res.header, ctx.responseHeader);
        trailer = res.trailer;
        return (messages = (res.message as AsyncIterable<Msg>)[Symbol.asyncIterator]());
      };
      const settle = (result: IteratorResult<Msg>): IteratorResult<Msg> => {
        if (result.done === true) {
          if (trailer) copyHeaders(trailer, ctx.responseTrailer);
          return result;
        }
        const value = result.value;
        return isMessage(value, output) ? result : { done: false, value: create(output, value as MessageInitShape<DescMessage>) };
      };
      return {
        next: () => (messages ? messages.next() : start().then((it) => it.next())).then(settle),
        return: (value?: unknown) => messages?.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
      };
    },
  };
}

async function onlyMessage(messages: AsyncIterable<Msg>): Promise<Msg> {
  const it = messages[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) throw new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
  if ((await it.next()).done !== true) throw new ConnectError("protocol error: received extra input message for server-streaming method", Code.Unimplemented);
  return first.value;
}

type StreamingHandlerFn = (req: StreamRequest<DescMessage>) => Promise<StreamResponse<DescMessage, DescMessage>>;

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  from.forEach((value, key) => to.set(key, value));
}

/**
 * Requests of a client- or bidi-streaming call. `destroyOnReturn: false`: a
 * handler that stops reading early must not destroy the duplex it still
 * writes its responses to.
 */
async function* readRequests(call: ReadableCall, open: OpenCall): AsyncGenerator<Msg> {
  try {
    for await (const message of call.iterator({ destroyOnReturn: false })) {
      if ((message as unknown) instanceof MalformedRequest) throw malformed(message as unknown as MalformedRequest);
      yield message as Msg;
    }
  } catch (reason) {
    // grpc-js destroys the stream on cancel; report why, as connect-node does.
    throw open.ended.aborted ? open.ended.reason : ConnectError.from(reason);
  }
}

/**
 * Server- and bidi-streaming: pull one message at a time and write it; when
 * grpc-js buffers are full, wait for 'drain' before pulling again, so the
 * handler's generator is driven by HTTP/2 flow control instead of racing ahead
 * of a slow reader.
 */
async function pump(call: WritableCall, open: OpenCall, output: AsyncIterable<Msg>, options: GrpcAdapterOptions) {
  const { ctx } = open;
  const it = output[Symbol.asyncIterator]();
  let headerSent = false;
  let error: ConnectError | undefined;
  try {
    for (;;) {
      const result = await it.next();
      if (open.ended.aborted) return stop(it);
      if (result.done === true) break;
      if (!headerSent) {
        // Connect's rule: response headers may be set until the first yield.
        call.sendMetadata(metadataFromHeaders(ctx.responseHeader));
        headerSent = true;
      }
      if (!call.write(result.value)) {
        await writable(call, open.ended);
        if (open.ended.aborted) return stop(it);
      }
    }
  } catch (reason) {
    if (open.ended.aborted) return;
    error = failure(open, reason, options);
  }
  if (!open.finish(error)) return;
  const status = grpcStatusFor(error, ctx.responseTrailer, headerSent ? undefined : ctx.responseHeader);
  if (error === undefined) {
    call.end(status.metadata);
  } else {
    // grpc-js's documented way to end a stream with a status: its own 'error'
    // listener turns this into the trailers after the buffered messages.
    call.emit("error", { code: status.code, details: status.details, metadata: status.metadata });
  }
}

/** Resolves on 'drain', or when the call can no longer be written to. */
function writable(call: WritableCall, ended: CallEnded): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("close", done);
      ended.wake = null;
      resolve();
    };
    if (ended.aborted) return resolve();
    call.on("drain", done);
    call.on("close", done);
    ended.wake = done;
  });
}

/** Ends the handler's generator early so its `finally` runs. */
function stop(it: AsyncIterator<Msg>): void {
  try {
    it.return?.().catch(() => undefined);
  } catch {
    // A broken iterator must not take the server down; the call is over.
  }
}
