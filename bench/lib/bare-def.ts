/**
 * The bare grpc-js baseline's one method, shared by its server and the load
 * client: a server stream of `n` messages of exactly `size` bytes each. The
 * request is JSON; responses are raw bytes (identity serializer), so the
 * figure is grpc-js and HTTP/2 alone, without protobuf encoding.
 */
import type * as grpc from "@grpc/grpc-js";

export interface BareRequest {
  n: number;
  size: number;
}

export const BARE_SERVICE_NAME = "bench.Bare";

export const bareDefinition: grpc.ServiceDefinition = {
  stream: {
    path: "/bench.Bare/Stream",
    originalName: "Stream",
    requestStream: false,
    responseStream: true,
    requestSerialize: (v: BareRequest) => Buffer.from(JSON.stringify(v)),
    requestDeserialize: (b: Buffer): BareRequest => JSON.parse(b.toString("utf8")) as BareRequest,
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (b: Buffer) => b,
  },
};
