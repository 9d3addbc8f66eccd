// The transport layer end to end: one port, grpc-js (h2c) and connect-node
// (HTTP/1.1 Connect and gRPC-Web) serving the same Connect-shaped handlers,
// called by real clients.
import * as http from "node:http";
import * as net from "node:net";
import { PassThrough } from "node:stream";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  anyUnpack,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  file_grpc_health_v1_health,
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_google_rpc_status, StatusSchema } from "../gen/google/rpc/status_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { addServicesToGrpcServer } from "../src/server/grpc-adapter.js";
import { grpcClientFor } from "../src/server/grpc-definition.js";
import { createConnectHandler } from "../src/server/connect-handler.js";
import { HealthRegistry, healthService } from "../src/server/health.js";
import { startListener, type Listener } from "../src/server/listener.js";
import { mount } from "../src/server/mounted-service.js";
import { ReflectionIndex, reflectionServices, type ReflectionAnswer } from "../src/server/reflection.js";
import { classifyPrefix, http2Preface, sniffProtocol } from "../src/server/sniff.js";
import {
  file_parley_test_v1_transport_test,
  TransportTestService,
  type Payload,
} from "./helpers/transport-test-service.js";
import { clientStream, deferred, eventually, nextMessage, readAll, sleep, unary, type Deferred } from "./helpers/transport-grpc.js";

/** What a test handler observed, keyed by the request's `text`. */
interface Probe {
  pulled: number;
  abortCode: Code | undefined;
  finallyRan: Deferred<void>;
}
const probes = new Map<string, Probe>();
function probe(key: string): Probe {
  let p = probes.get(key);
  if (p === undefined) {
    p = { pulled: 0, abortCode: undefined, finallyRan: deferred() };
    probes.set(key, p);
  }
  return p;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

const errorDetail = { desc: ErrorInfoSchema, value: { reason: "TEST_REASON", domain: "parley", metadata: { k: "v" } } };

// `text` is "<mode>:<key>"; the key names the probe.
const testImpl: ServiceImpl<typeof TransportTestService> = {
  async unary(req, ctx) {
    const [mode] = req.text.split(":");
    const p = probe(req.text);
    ctx.signal.addEventListener("abort", () => (p.abortCode = ConnectError.from(ctx.signal.reason).code));
    try {
      switch (mode) {
        case "fail-connect":
          throw new ConnectError("nope", Code.FailedPrecondition, { "x-error-meta": "m" }, [errorDetail]);
        case "fail-internal":
          throw new Error("secret connection string");
        case "hang":
          await untilAborted(ctx.signal);
          return {};
        default:
          ctx.responseHeader.set("x-unary-header", "h");
          ctx.responseTrailer.set("x-unary-trailer", "t");
          return { seq: req.seq + 1, text: ctx.requestHeader.get("x-echo") ?? "", data: req.data };
      }
    } finally {
      p.finallyRan.resolve();
    }
  },

  async *serverStream(req, ctx) {
    const [mode] = req.text.split(":");
    const p = probe(req.text);
    ctx.signal.addEventListener("abort", () => (p.abortCode = ConnectError.from(ctx.signal.reason).code));
    ctx.responseHeader.set("x-stream-header", "h");
    ctx.responseTrailer.set("x-stream-trailer", "t");
    const data = new Uint8Array(req.size);
    try {
      switch (mode) {
        case "count":
          for (let i = 0; i < req.seq; i++) yield { seq: i };
          return;
        case "flood":
          for (let i = 0; ; i++) {
            p.pulled++;
            yield { seq: i, data };
          }
        case "hang":
          yield { seq: 0 };
          await untilAborted(ctx.signal);
          return;
        case "fail-after":
          yield { seq: 0 };
          yield { seq: 1 };
          throw new ConnectError("too much", Code.ResourceExhausted, undefined, [errorDetail]);
        case "fail-first":
          throw new ConnectError("refused", Code.PermissionDenied);
      }
    } finally {
      p.finallyRan.resolve();
    }
  },

  async clientStream(requests) {
    let seq = 0;
    let count = 0;
    for await (const r of requests) {
      seq += r.seq;
      count++;
    }
    return { seq, text: `count=${count}` };
  },

  async *bidi(requests) {
    for await (const r of requests) yield { seq: r.seq * 2, text: r.text };
  },
};

// One interceptor for both engines: it must see every call the same way.
const intercepted: string[] = [];
const recordCalls: Interceptor = (next) => async (req) => {
  intercepted.push(`${req.method.parent.typeName}/${req.method.name} ${req.stream ? "stream" : "unary"}`);
  const res = await next(req);
  res.header.set("x-intercepted", "yes");
  return res;
};

const health = new HealthRegistry({ "": ServingStatus.SERVING });
const internalErrors: unknown[] = [];
const services = [
  mount(Health, healthService(health)),
  ...reflectionServices([file_grpc_health_v1_health, file_parley_test_v1_transport_test]),
  mount(TransportTestService, testImpl),
];

let listener: Listener;
let address: string;
let baseUrl: string;
const grpcClients: grpc.Client[] = [];

function client<S extends Parameters<typeof grpcClientFor>[0]>(service: S) {
  const c = grpcClientFor(service, address);
  grpcClients.push(c);
  return c;
}

beforeAll(async () => {
  const grpcServer = new grpc.Server();
  addServicesToGrpcServer(grpcServer, services, {
    interceptors: [recordCalls],
    onInternalError: (err) => internalErrors.push(err),
  });
  listener = await startListener({
    host: "127.0.0.1",
    port: 0,
    grpcServer,
    httpHandler: createConnectHandler({ services, interceptors: [recordCalls] }),
    closeGraceMs: 2_000,
  });
  const { port } = listener.address();
  address = `127.0.0.1:${port}`;
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const c of grpcClients) c.close();
  health.endWatches();
  await listener?.close();
});

describe("listener", () => {
  it("reports the real port when asked for port 0", () => {
    const { host, port } = listener.address();
    expect(host).toBe("127.0.0.1");
    expect(port).toBeGreaterThan(0);
  });

  it("answers a plain HTTP/1.1 GET on an unknown path with 404", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get(`${baseUrl}/no/such/path`, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on("error", reject);
    });
    expect(status).toBe(404);
  });

  it("answers a CORS preflight for an RPC path", async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${baseUrl}/grpc.health.v1.Health/Check`, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,connect-protocol-version,authorization",
        },
      });
      req.on("response", resolve).on("error", reject).end();
    });
    res.resume();
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(res.headers["access-control-allow-methods"]).toContain("POST");
    expect(res.headers["access-control-allow-headers"]).toContain("authorization");
  });

  it("hands an h2c connection whose preface arrives one byte at a time to grpc-js", async () => {
    const socket = net.connect({ host: "127.0.0.1", port: listener.address().port, noDelay: true });
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    for (const byte of http2Preface) {
      socket.write(Buffer.of(byte));
      await sleep(2);
    }
    // An HTTP/2 server's first frame is SETTINGS (frame type 0x4 at offset 3).
    await eventually(() => Buffer.concat(received).length >= 9);
    expect(Buffer.concat(received)[3]).toBe(0x4);
    socket.destroy();
  });
});

describe("protocol sniffing", () => {
  it("decides as soon as the bytes diverge from the preface, and not before", () => {
    expect(classifyPrefix(Buffer.from("G"))).toBe("http1");
    expect(classifyPrefix(Buffer.from("PRI * HTTP/"))).toBeUndefined();
    expect(classifyPrefix(Buffer.from("PRI * HTTP/1.1\r\n"))).toBe("http1");
    expect(classifyPrefix(http2Preface)).toBe("http2");
  });

  it("accumulates a preface fed one byte per read and puts every byte back", async () => {
    const socket = new PassThrough();
    const verdict = sniffProtocol(socket, 1_000);
    const trailing = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    for (const byte of Buffer.concat([http2Preface, trailing])) {
      socket.write(Buffer.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    expect(await verdict).toBe("http2");
    await new Promise((r) => setImmediate(r));
    const replay = socket.read() as Buffer;
    expect(replay.subarray(0, http2Preface.length).equals(http2Preface)).toBe(true);
  });

  it("rejects a connection that ends before it could tell", async () => {
    const socket = new PassThrough();
    const verdict = sniffProtocol(socket, 1_000);
    socket.end(Buffer.from("PRI"));
    await expect(verdict).rejects.toThrow(/ended/);
  });
});

describe("health over grpc-js", () => {
  it("checks the whole server", async () => {
    const c = client(Health);
    const { response } = await unary(c.check.bind(c), { service: "" });
    expect(response.status).toBe(ServingStatus.SERVING);
  });

  it("answers NOT_FOUND for an unknown service", async () => {
    const c = client(Health);
    const err = await unary(c.check.bind(c), { service: "no.such.Service" }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
  });

  it("watches: the current status at once, then each change", async () => {
    health.set("parley.test.Watched", ServingStatus.SERVING);
    const call = client(Health).watch({ service: "parley.test.Watched" });
    call.on("error", () => undefined);
    expect((await nextMessage(call)).status).toBe(ServingStatus.SERVING);
    health.set("parley.test.Watched", ServingStatus.NOT_SERVING);
    expect((await nextMessage(call)).status).toBe(ServingStatus.NOT_SERVING);
    call.cancel();
  });

  it("watches an unknown service: SERVICE_UNKNOWN, and the call stays open", async () => {
    const call = client(Health).watch({ service: "parley.test.Later" });
    let ended = false;
    call.on("status", () => (ended = true));
    call.on("error", () => undefined);
    expect((await nextMessage(call)).status).toBe(ServingStatus.SERVICE_UNKNOWN);
    await sleep(150);
    expect(ended).toBe(false);
    health.set("parley.test.Later", ServingStatus.SERVING);
    expect((await nextMessage(call)).status).toBe(ServingStatus.SERVING);
    call.cancel();
  });

  it("lists every status", async () => {
    const c = client(Health);
    const { response } = await unary(c.list.bind(c), {});
    expect(response.statuses[""]?.status).toBe(ServingStatus.SERVING);
  });
});

describe("health over connect-node", () => {
  it("checks over the Connect protocol on HTTP/1.1", async () => {
    const connect = createClient(Health, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    expect((await connect.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    const err = await connect.check({ service: "nope" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });

  it("checks over gRPC-Web on HTTP/1.1", async () => {
    const web = createClient(Health, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
    expect((await web.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });
});

describe("reflection", () => {
  const versions = [
    ["v1", reflectionV1.ServerReflection],
    ["v1alpha", reflectionV1alpha.ServerReflection],
  ] as const;

  for (const [name, service] of versions) {
    it(`${name}: lists services and finds the file declaring a symbol`, async () => {
      // The two versions' clients differ only in type names; call each through its own type.
      const ask = <C extends grpc.ClientDuplexStream<never, { messageResponse: unknown }>>(call: C, write: (call: C) => void) => {
        write(call);
        call.end();
        return readAll(call);
      };
      const requests = [
        { case: "listServices", value: "" },
        { case: "fileContainingSymbol", value: "grpc.health.v1.Health" },
        { case: "fileContainingSymbol", value: "parley.test.v1.TransportTestService.Bidi" },
        { case: "fileContainingSymbol", value: "no.such.Symbol" },
      ] as const;
      const { messages, status } =
        service === reflectionV1.ServerReflection
          ? await ask(client(reflectionV1.ServerReflection).serverReflectionInfo(), (call) =>
              requests.forEach((messageRequest) => call.write({ messageRequest })),
            )
          : await ask(client(reflectionV1alpha.ServerReflection).serverReflectionInfo(), (call) =>
              requests.forEach((messageRequest) => call.write({ messageRequest })),
            );
      expect(status.code).toBe(grpc.status.OK);
      expect(messages).toHaveLength(4);
      const [list, healthFile, methodFile, missing] = messages.map((m) => m.messageResponse as ReflectionAnswer);

      expect(list?.case).toBe("listServicesResponse");
      const names = list?.case === "listServicesResponse" ? list.value.service.map((s) => s.name) : [];
      expect(names).toEqual(
        expect.arrayContaining([
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          "parley.test.v1.TransportTestService",
        ]),
      );

      for (const [answer, file] of [
        [healthFile, "grpc/health/v1/health.proto"],
        [methodFile, "parley/test/v1/transport_test.proto"],
      ] as const) {
        expect(answer?.case).toBe("fileDescriptorResponse");
        if (answer?.case !== "fileDescriptorResponse") continue;
        const first = answer.value.fileDescriptorProto[0];
        expect(first && fromBinary(FileDescriptorProtoSchema, first).name).toBe(file);
      }

      expect(missing?.case).toBe("errorResponse");
      expect(missing?.case === "errorResponse" && missing.value.errorCode).toBe(5);
    });
  }
});

describe("reflection index", () => {
  it("answers file_by_filename with the file's transitive dependencies", () => {
    const index = new ReflectionIndex([file_google_rpc_status]);
    const answer = index.answer({ case: "fileByFilename", value: "google/rpc/status.proto" });
    expect(answer.case).toBe("fileDescriptorResponse");
    const names =
      answer.case === "fileDescriptorResponse"
        ? answer.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)
        : [];
    expect(names).toEqual(["google/rpc/status.proto", "google/protobuf/any.proto"]);
    // Types of a dependency resolve too; fields resolve to their message's file.
    expect(index.answer({ case: "fileContainingSymbol", value: "google.protobuf.Any" }).case).toBe(
      "fileDescriptorResponse",
    );
    expect(index.answer({ case: "fileContainingSymbol", value: "google.rpc.Status.details" }).case).toBe(
      "fileDescriptorResponse",
    );
    expect(index.answer({ case: undefined })).toMatchObject({ case: "errorResponse", value: { errorCode: 3 } });
  });

  it("finds extensions by extendee and number", () => {
    const proto = create(FileDescriptorProtoSchema, {
      name: "parley/test/v1/ext.proto",
      package: "parley.test.v1",
      syntax: "proto2",
      messageType: [{ name: "Base", extensionRange: [{ start: 100, end: 200 }] }],
      extension: [
        { name: "flag", number: 101, extendee: ".parley.test.v1.Base", type: Type.BOOL, label: Label.OPTIONAL },
        { name: "note", number: 100, extendee: ".parley.test.v1.Base", type: Type.STRING, label: Label.OPTIONAL },
      ],
    });
    const file = createFileRegistry(proto, () => undefined).getFile(proto.name)!;
    const index = new ReflectionIndex([file]);
    expect(
      index.answer({ case: "fileContainingExtension", value: { containingType: "parley.test.v1.Base", extensionNumber: 101 } })
        .case,
    ).toBe("fileDescriptorResponse");
    expect(
      index.answer({ case: "fileContainingExtension", value: { containingType: "parley.test.v1.Base", extensionNumber: 150 } }),
    ).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(index.answer({ case: "allExtensionNumbersOfType", value: "parley.test.v1.Base" })).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "parley.test.v1.Base", extensionNumber: [100, 101] },
    });
  });
});

describe("grpc-js adapter", () => {
  let test: ReturnType<typeof grpcClientFor<typeof TransportTestService>>;
  beforeAll(() => {
    test = client(TransportTestService);
  });

  it("passes request headers in and response headers and trailers out", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-echo", "hello");
    const { response, header, status } = await unary(test.unary.bind(test), { text: "echo:headers", seq: 41 }, { metadata });
    expect(response.seq).toBe(42);
    expect(response.text).toBe("hello");
    expect(header?.get("x-unary-header")).toEqual(["h"]);
    expect(status.metadata.get("x-unary-trailer")).toEqual(["t"]);
  });

  it("streams with headers before the first message and trailers after the last", async () => {
    const { messages, header, status } = await readAll(
      test.serverStream({ text: "count:three", seq: 3 }),
    );
    expect(messages.map((m: Payload) => m.seq)).toEqual([0, 1, 2]);
    expect(header?.get("x-stream-header")).toEqual(["h"]);
    expect(status.code).toBe(grpc.status.OK);
    expect(status.metadata.get("x-stream-trailer")).toEqual(["t"]);
  });

  it("serves client streaming and bidi streaming", async () => {
    const { response } = await clientStream(test.clientStream.bind(test), (call) => {
      for (const seq of [1, 2, 3]) call.write({ seq });
      call.end();
    });
    expect(response).toMatchObject({ seq: 6, text: "count=3" });

    const bidi = test.bidi();
    bidi.write({ seq: 1, text: "a" });
    expect(await nextMessage(bidi)).toMatchObject({ seq: 2, text: "a" });
    bidi.write({ seq: 5, text: "b" });
    expect(await nextMessage(bidi)).toMatchObject({ seq: 10, text: "b" });
    bidi.end();
    expect((await readAll(bidi)).status.code).toBe(grpc.status.OK);
  });

  it("sends a ConnectError with its code, message and a parseable grpc-status-details-bin", async () => {
    const err = (await unary(test.unary.bind(test), { text: "fail-connect:unary" }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toBe("nope");
    expect(err.metadata.get("x-error-meta")).toEqual(["m"]);
    const [bin] = err.metadata.get("grpc-status-details-bin");
    expect(bin).toBeInstanceOf(Buffer);
    const status = fromBinary(StatusSchema, bin as Buffer);
    expect(status.code).toBe(Code.FailedPrecondition);
    expect(status.message).toBe("nope");
    const info = status.details[0] && anyUnpack(status.details[0], ErrorInfoSchema);
    expect(info).toMatchObject({ reason: "TEST_REASON", domain: "parley", metadata: { k: "v" } });
  });

  it("ends a stream with the handler's error after the messages it yielded", async () => {
    const { messages, error } = await readAll(test.serverStream({ text: "fail-after:stream" }));
    expect(messages).toHaveLength(2);
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.metadata.get("grpc-status-details-bin")).toHaveLength(1);
    const refused = await readAll(test.serverStream({ text: "fail-first:stream" }));
    expect(refused.messages).toHaveLength(0);
    expect(refused.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(refused.error?.metadata.get("x-stream-header")).toEqual(["h"]);
  });

  it("hides anything but a ConnectError behind INTERNAL and reports it", async () => {
    const err = (await unary(test.unary.bind(test), { text: "fail-internal:unary" }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe("internal error");
    expect(internalErrors.some((e) => e instanceof Error && e.message.includes("secret"))).toBe(true);
  });

  it("runs the handler's finally with a Canceled signal when the client cancels", async () => {
    const call = test.serverStream({ text: "flood:cancel", size: 16 });
    call.on("error", () => undefined);
    await nextMessage(call);
    call.cancel();
    await probe("flood:cancel").finallyRan.promise;
    expect(probe("flood:cancel").abortCode).toBe(Code.Canceled);
  });

  it("aborts the signal with DeadlineExceeded when the deadline passes", async () => {
    const stream = test.serverStream({ text: "hang:stream-deadline" }, { deadline: Date.now() + 300 });
    const { error } = await readAll(stream);
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await probe("hang:stream-deadline").finallyRan.promise;
    expect(probe("hang:stream-deadline").abortCode).toBe(Code.DeadlineExceeded);

    const err = await unary(test.unary.bind(test), { text: "hang:unary-deadline" }, {
      options: { deadline: Date.now() + 300 },
    }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await probe("hang:unary-deadline").finallyRan.promise;
    expect(probe("hang:unary-deadline").abortCode).toBe(Code.DeadlineExceeded);
  });

  it("does not pull the generator far ahead of a paused reader", async () => {
    const key = "flood:backpressure";
    const call = test.serverStream({ text: key, size: 64 * 1024 });
    call.on("error", () => undefined);
    // Pause after the first message: a grpc-js client stream paused before
    // its first read never asks for messages, and then buffers without
    // bound on its side (its HTTP/2 stream is only paused once it pushes).
    await nextMessage(call);
    call.pause();
    await sleep(500);
    const settled = probe(key).pulled;
    await sleep(300);
    expect(probe(key).pulled).toBe(settled);
    expect(settled).toBeLessThan(64);
    // Reading again lets it go on.
    let received = 0;
    call.on("data", () => received++);
    call.resume();
    await eventually(() => received > settled + 10);
    call.cancel();
    await probe(key).finallyRan.promise;
  });
});

describe("the same handlers over connect-node", () => {
  it("run the same interceptors as on grpc-js", async () => {
    intercepted.length = 0;
    const grpcTest = client(TransportTestService);
    const viaGrpc = await unary(grpcTest.unary.bind(grpcTest), { text: "echo:intercepted" });
    const streamed = await readAll(grpcTest.serverStream({ text: "count:intercepted", seq: 1 }));
    const connect = createClient(TransportTestService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    let connectHeader: string | null = null;
    await connect.unary({ text: "echo:intercepted" }, { onHeader: (h) => (connectHeader = h.get("x-intercepted")) });
    expect(viaGrpc.header?.get("x-intercepted")).toEqual(["yes"]);
    expect(streamed.header?.get("x-intercepted")).toEqual(["yes"]);
    expect(connectHeader).toBe("yes");
    expect(intercepted).toEqual([
      "parley.test.v1.TransportTestService/Unary unary",
      "parley.test.v1.TransportTestService/ServerStream stream",
      "parley.test.v1.TransportTestService/Unary unary",
    ]);
  });

  it("give the same error with the same details", async () => {
    const connect = createClient(TransportTestService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const err = ConnectError.from(await connect.unary({ text: "fail-connect:connect" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("nope");
    expect(err.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "TEST_REASON" });
    const web = createClient(TransportTestService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
    const seqs: number[] = [];
    for await (const m of web.serverStream({ text: "count:web", seq: 3 })) seqs.push(m.seq);
    expect(seqs).toEqual([0, 1, 2]);
  });
});

describe("shutdown", () => {
  it("ends Watch streams after NOT_SERVING and closes within the grace time", async () => {
    const registry = new HealthRegistry({ "": ServingStatus.SERVING });
    const grpcServer = new grpc.Server();
    const mounted = [mount(Health, healthService(registry))];
    addServicesToGrpcServer(grpcServer, mounted);
    const own = await startListener({
      host: "127.0.0.1",
      port: 0,
      grpcServer,
      httpHandler: createConnectHandler({ services: mounted }),
      closeGraceMs: 3_000,
    });
    const healthClient = grpcClientFor(Health, `127.0.0.1:${own.address().port}`);
    const watch = healthClient.watch({ service: "" });
    const result = readAll(watch);
    await eventually(() => watch.listenerCount("data") > 0);
    await sleep(100);

    registry.shutdown();
    registry.set("", ServingStatus.SERVING); // ignored while shut down
    registry.endWatches();
    const { messages, status } = await result;
    expect(messages.map((m) => m.status)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(status.code).toBe(grpc.status.OK);

    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(2_500);
    healthClient.close();
  });
});
