/**
 * A gRPC call made by hand over node:http2, for the two clients grpc-js
 * cannot play: a reader that stops reading (pause() really stops HTTP/2
 * WINDOW_UPDATEs here) and a client whose TCP connection vanishes without
 * RST_STREAM or GOAWAY (socket.destroy()).
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { connect as tcpConnect, type Socket } from "node:net";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  StreamMessageRequestSchema,
  StreamMessageResponseSchema,
  type StreamMessageResponse,
} from "../../gen/parley/v1/conversation_service_pb.js";

export interface RawCall {
  session: ClientHttp2Session;
  /** The TCP socket under the session: destroy() it to vanish. */
  socket: Socket;
  stream: ClientHttp2Stream;
  /** Messages decoded so far. */
  messages: StreamMessageResponse[];
  bytes: number;
  /** grpc-status from the trailers once they came ("" until then). */
  status(): string;
  ended: Promise<void>;
}

function frame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(out, 5);
  return out;
}

export function rawStreamMessage(address: string, req: MessageInitShape<typeof StreamMessageRequestSchema>, opts: { windowBytes?: number } = {}): RawCall {
  const [host = "127.0.0.1", port = "0"] = address.split(":");
  const socket = tcpConnect(Number(port), host);
  socket.on("error", () => undefined);
  const session = connect(`http://${address}`, {
    createConnection: () => socket,
    ...(opts.windowBytes ? { settings: { initialWindowSize: opts.windowBytes } } : {}),
  });
  session.on("error", () => undefined);
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: "/parley.v1.ConversationService/StreamMessage",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.end(frame(toBinary(StreamMessageRequestSchema, create(StreamMessageRequestSchema, req))));
  const messages: StreamMessageResponse[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let status = "";
  let bytes = 0;
  stream.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const len = pending.readUInt32BE(1);
      if (pending.length < 5 + len) break;
      messages.push(fromBinary(StreamMessageResponseSchema, pending.subarray(5, 5 + len)));
      pending = pending.subarray(5 + len);
    }
  });
  stream.on("trailers", (trailers) => {
    status = String(trailers["grpc-status"] ?? "");
  });
  stream.on("response", (headers) => {
    // A refusal comes as a trailers-only response.
    if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
  });
  const ended = new Promise<void>((resolve) => {
    stream.once("close", () => resolve());
  });
  return { session, socket, stream, messages, status: () => status, ended, get bytes() { return bytes; } } as RawCall;
}
