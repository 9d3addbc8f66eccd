// Conversions between grpc-js Metadata and Fetch Headers, so handlers see
// ctx.requestHeader / responseHeader / responseTrailer the same way on both
// engines. Binary (`-bin`) values travel base64-encoded in Headers, which is
// how connect-node presents them (they are base64 on the wire).
import * as grpc from "@grpc/grpc-js";

// Keys the gRPC protocol owns: a handler (or a ConnectError's metadata, which
// may carry a proxied error's trailers) must not override them.
const reservedKeys = new Set([
  "content-type",
  "te",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-timeout",
]);

const legalKey = /^[0-9a-z_.-]+$/;
const legalAsciiValue = /^[ -~]*$/;

export function headersFromMetadata(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata.toHttp2Headers())) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      headers.append(key, String(v));
    }
  }
  return headers;
}

/** Appends `headers` to `target`, skipping protocol-owned and illegal entries rather than throwing. */
export function appendHeadersToMetadata(target: grpc.Metadata, headers: Headers | undefined): grpc.Metadata {
  headers?.forEach((value, key) => {
    if (reservedKeys.has(key) || !legalKey.test(key)) return;
    if (key.endsWith("-bin")) {
      // Headers joins repeated values with ", ".
      for (const part of value.split(",")) {
        target.add(key, Buffer.from(part.trim(), "base64"));
      }
    } else if (legalAsciiValue.test(value)) {
      target.add(key, value);
    }
  });
  return target;
}

export function metadataFromHeaders(...headers: (Headers | undefined)[]): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const h of headers) appendHeadersToMetadata(metadata, h);
  return metadata;
}
