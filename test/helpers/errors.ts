/** Decodes the google.rpc details a grpc-js client receives in `grpc-status-details-bin`. */
import type * as grpc from "@grpc/grpc-js";
import { anyUnpack, durationMs } from "@bufbuild/protobuf/wkt";
import { fromBinary } from "@bufbuild/protobuf";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema, type BadRequest, type ErrorInfo } from "../../gen/google/rpc/error_details_pb.js";

export interface Details {
  /** The code inside google.rpc.Status, when the trailer was there. */
  statusCode: number | undefined;
  errorInfo: ErrorInfo | undefined;
  badRequest: BadRequest | undefined;
  /** RetryInfo's delay in ms, when present. */
  retryDelayMs: number | undefined;
}

export function detailsOf(err: grpc.ServiceError): Details {
  const [bin] = err.metadata.get("grpc-status-details-bin");
  if (bin === undefined) return { statusCode: undefined, errorInfo: undefined, badRequest: undefined, retryDelayMs: undefined };
  const status = fromBinary(StatusSchema, typeof bin === "string" ? Buffer.from(bin, "base64") : bin);
  let errorInfo: ErrorInfo | undefined;
  let badRequest: BadRequest | undefined;
  let retryDelayMs: number | undefined;
  for (const any of status.details) {
    errorInfo ??= anyUnpack(any, ErrorInfoSchema);
    badRequest ??= anyUnpack(any, BadRequestSchema);
    const retry = anyUnpack(any, RetryInfoSchema);
    if (retry?.retryDelay) retryDelayMs = durationMs(retry.retryDelay);
  }
  return { statusCode: status.code, errorInfo, badRequest, retryDelayMs };
}
