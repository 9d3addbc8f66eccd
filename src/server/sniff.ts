// Decides per connection whether a client speaks HTTP/2 with prior knowledge
// (h2c: gRPC clients, grpcurl, Kubernetes probes) or HTTP/1.1 (browsers,
// curl, Prometheus), by the first bytes it sends. Both kinds of client talk
// first, so nothing has to be sent before deciding.
import type { Readable } from "node:stream";

export const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type Protocol = "http2" | "http1";

/** `undefined` while `head` is a proper prefix of the preface: read more. */
export function classifyPrefix(head: Uint8Array): Protocol | undefined {
  const n = Math.min(head.length, http2Preface.length);
  for (let i = 0; i < n; i++) {
    if (head[i] !== http2Preface[i]) return "http1";
  }
  return head.length >= http2Preface.length ? "http2" : undefined;
}

export class SniffError extends Error {
  override name = "SniffError";
}

/**
 * Reads from `socket` until the protocol is known, then puts every byte read
 * back with `unshift`, so whoever takes the socket next sees it untouched.
 * Paused-mode reading ('readable' + read()) is used because a 'data' listener
 * would switch the socket to flowing mode and lose bytes emitted before the
 * next owner attaches; once our 'readable' listener is gone, Node resumes the
 * socket for the new owner's 'data' listener.
 *
 * Rejects with SniffError if the socket ends, fails or stays silent for
 * `timeoutMs` before the protocol is known.
 */
export function sniffProtocol(socket: Readable, timeoutMs = 10_000): Promise<Protocol> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        length += chunk.length;
      }
      const head = Buffer.concat(chunks, length);
      const protocol = classifyPrefix(head);
      if (protocol === undefined) return;
      cleanup();
      socket.unshift(head);
      resolve(protocol);
    };
    const onEnd = () => {
      cleanup();
      reject(new SniffError(`connection ended after ${length} bytes, before its protocol was known`));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new SniffError(`connection failed before its protocol was known: ${err.message}`, { cause: err }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new SniffError(`no protocol seen within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("readable", onReadable);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
  });
}
