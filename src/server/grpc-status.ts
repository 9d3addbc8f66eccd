// Turns whatever a handler threw into the gRPC status grpc-js sends, with the
// same rules connect-node applies, so a caller sees one error whichever engine
// served it: ConnectError keeps its code and raw message, details ride in
// `grpc-status-details-bin`; anything else is INTERNAL "internal error".
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { appendHeadersToMetadata } from "./grpc-metadata.js";

export const statusDetailsKey = "grpc-status-details-bin";

/** The ConnectError a thrown value stands for on the wire; `internal` is set when it is hidden behind INTERNAL. */
export function publicError(reason: unknown): { error: ConnectError; internal: boolean } {
  if (reason instanceof ConnectError) return { error: reason, internal: false };
  return { error: new ConnectError("internal error", Code.Internal, undefined, undefined, reason), internal: true };
}

export function packDetails(error: ConnectError): Any[] {
  return error.details.map((detail) =>
    "desc" in detail
      ? anyPack(detail.desc, create(detail.desc, detail.value))
      : // Incoming details (e.g. relayed from an upstream error) are already encoded.
        create(AnySchema, { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value }),
  );
}

/**
 * The grpc-js status for `error`. `trailer` (ctx.responseTrailer) and the
 * error's own metadata go into the trailing metadata, like Connect's
 * setTrailerStatus; `header` is added too when no headers were sent yet
 * (trailers-only response), so ctx.responseHeader is never dropped.
 */
export function grpcStatusFor(
  error: ConnectError | undefined,
  trailer: Headers,
  header?: Headers,
): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  appendHeadersToMetadata(metadata, header);
  appendHeadersToMetadata(metadata, trailer);
  if (error === undefined) {
    return { code: grpc.status.OK, details: "OK", metadata };
  }
  appendHeadersToMetadata(metadata, error.metadata);
  if (error.details.length > 0) {
    const status = create(StatusSchema, { code: error.code, message: error.rawMessage, details: packDetails(error) });
    metadata.set(statusDetailsKey, Buffer.from(toBinary(StatusSchema, status)));
  }
  // Connect's Code values are the gRPC status codes.
  return { code: error.code as number as grpc.status, details: error.rawMessage, metadata };
}
