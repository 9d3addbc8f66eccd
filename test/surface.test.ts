/** The standard services on the real app: health (what probes use) and reflection (grpcurl, ghz). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1, type ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { grpcClientFor } from "../src/server/grpc-definition.js";
import { startTestServer, unary, type TestServer } from "./helpers/server.js";

describe("health and reflection on the running service", () => {
  let s: TestServer;
  beforeAll(async () => {
    // Keys are configured: health and reflection must still answer without them (probes carry none).
    s = await startTestServer({ PARLEY_API_KEYS: "probe-test-key-1=alpha" });
  });
  afterAll(() => s.close(true));

  it("Check answers SERVING for the server and the API, NOT_FOUND for an unknown service", async () => {
    const health = grpcClientFor(Health, s.address);
    try {
      for (const service of ["", "parley.v1.ConversationService"]) {
        const { err, res } = await unary(health.check.bind(health), { service });
        expect(err).toBeNull();
        expect(res?.status).toBe(ServingStatus.SERVING);
      }
      const { err } = await unary(health.check.bind(health), { service: "no.such.Service" });
      expect(err?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  it("Check works over Connect too", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });

  it("Watch streams the current status at once and stays open", async () => {
    const health = grpcClientFor(Health, s.address);
    try {
      const call = health.watch({ service: "parley.v1.ConversationService" });
      const first = await new Promise<HealthCheckResponse>((resolve, reject) => {
        call.once("data", resolve);
        call.once("error", reject);
      });
      expect(first.status).toBe(ServingStatus.SERVING);
      const ended = await Promise.race([
        new Promise<boolean>((r) => call.once("end", () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
      ]);
      expect(ended).toBe(false);
      call.cancel();
    } finally {
      health.close();
    }
  });

  it("List returns every status", async () => {
    const health = grpcClientFor(Health, s.address);
    try {
      const { res } = await unary(health.list.bind(health), {});
      expect(res?.statuses[""]?.status).toBe(ServingStatus.SERVING);
      expect(res?.statuses["parley.v1.ConversationService"]?.status).toBe(ServingStatus.SERVING);
    } finally {
      health.close();
    }
  });

  for (const [version, service] of [["v1", ReflectionV1], ["v1alpha", ReflectionV1alpha]] as const) {
    it(`reflection ${version} lists the services and describes the API`, async () => {
      const client = grpcClientFor(service as typeof ReflectionV1, s.address);
      try {
        const call = client.serverReflectionInfo();
        const answers: ServerReflectionResponse[] = [];
        const done = new Promise<void>((resolve, reject) => {
          call.on("data", (r: ServerReflectionResponse) => answers.push(r));
          call.on("end", resolve);
          call.on("error", reject);
        });
        call.write({ messageRequest: { case: "listServices", value: "" } });
        call.write({ messageRequest: { case: "fileContainingSymbol", value: "parley.v1.ConversationService" } });
        call.end();
        await done;
        const [list, file] = answers;
        if (list?.messageResponse.case !== "listServicesResponse") throw new Error("no list answer");
        const names = list.messageResponse.value.service.map((x) => x.name);
        expect(names).toEqual(expect.arrayContaining(["parley.v1.ConversationService", "grpc.health.v1.Health"]));
        if (file?.messageResponse.case !== "fileDescriptorResponse") throw new Error("no file answer");
        const files = file.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
        expect(files).toContain("parley/v1/conversation_service.proto");
        // Dependencies come along, so a client can build every message type.
        expect(files).toEqual(expect.arrayContaining(["parley/v1/events.proto", "google/protobuf/timestamp.proto"]));
      } finally {
        client.close();
      }
    });
  }
});
