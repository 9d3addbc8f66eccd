// grpc-js service definitions and clients from protobuf-es descriptors, so
// neither proto-loader nor a second code generator is needed: the generated
// `gen/` descriptors are the single source for both engines and our clients.
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescMethodBiDiStreaming,
  type DescMethodClientStreaming,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";

/**
 * What the server-side deserializer returns for bytes that are not the
 * method's request message: grpc-js would answer a throwing deserializer
 * with INTERNAL, but a malformed request is the caller's INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

function parseRequest<I extends DescMessage>(schema: I, bytes: Buffer): MessageShape<I> | MalformedRequest {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    return new MalformedRequest(err instanceof Error ? err.message : String(err));
  }
}

/** The encoder's fresh array as a Buffer without copying it: every streamed event is serialized here. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The gRPC path of a method: `/pkg.Service/Method`. */
export function grpcMethodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * One method as grpc-js wants it. Serializers accept init shapes too (they go
 * through `create`, which returns a real message unchanged), so clients may
 * pass plain objects.
 */
export function grpcMethodDefinition<I extends DescMessage, O extends DescMessage>(
  method: DescMethod & { input: I; output: O },
): grpc.MethodDefinition<MessageInitShape<I>, MessageShape<O>> {
  return {
    path: grpcMethodPath(method),
    originalName: method.name,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: (value) => Buffer.from(toBinary(method.input, create(method.input, value))),
    // The adapter turns a MalformedRequest into INVALID_ARGUMENT before any handler sees it.
    requestDeserialize: (bytes) => parseRequest(method.input, bytes) as MessageInitShape<I>,
    responseSerialize: (value) => asBuffer(toBinary(method.output, create(method.output, value))),
    responseDeserialize: (bytes) => fromBinary(method.output, bytes),
  };
}

/**
 * The grpc-js definition of a service, keyed by the method's `localName`
 * (`check`, `serverReflectionInfo`) like Connect's ServiceImpl; `originalName`
 * makes the generic client answer to `Check` as well.
 */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = grpcMethodDefinition(method) as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition;
}

interface UnaryClientMethod<I, O> {
  (request: I, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (request: I, metadata: grpc.Metadata, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (request: I, options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (
    request: I,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: grpc.requestCallback<O>,
  ): grpc.ClientUnaryCall;
}

interface ServerStreamingClientMethod<I, O> {
  (request: I, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<O>;
  (request: I, metadata: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<O>;
}

interface ClientStreamingClientMethod<I, O> {
  (callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (metadata: grpc.Metadata, callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: grpc.requestCallback<O>,
  ): grpc.ClientWritableStream<I>;
}

interface BiDiStreamingClientMethod<I, O> {
  (options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<I, O>;
  (metadata: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<I, O>;
}

/** The grpc-js call signature of one generated method. */
export type GrpcClientMethod<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? UnaryClientMethod<MessageInitShape<I>, MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingClientMethod<MessageInitShape<I>, MessageShape<O>>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? ClientStreamingClientMethod<MessageInitShape<I>, MessageShape<O>>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? BiDiStreamingClientMethod<MessageInitShape<I>, MessageShape<O>>
          : never;

/** A grpc-js generic client whose methods are typed from the descriptor. */
export type GrpcClient<S extends DescService> = grpc.Client & {
  readonly [K in keyof S["method"]]: GrpcClientMethod<S["method"][K]>;
};

const constructors = new WeakMap<DescService, grpc.ServiceClientConstructor>();

/**
 * A grpc-js client for `service` at `address` (`host:port`). Insecure (h2c)
 * unless credentials are given. Close it with `client.close()`.
 */
export function grpcClientFor<S extends DescService>(
  service: S,
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options?: Partial<grpc.ChannelOptions>,
): GrpcClient<S> {
  let ctor = constructors.get(service);
  if (ctor === undefined) {
    ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
    constructors.set(service, ctor);
  }
  // makeGenericClientConstructor types its methods as `Function`; the
  // definition above is what gives them the shapes GrpcClient states.
  return new ctor(address, credentials, options) as unknown as GrpcClient<S>;
}
