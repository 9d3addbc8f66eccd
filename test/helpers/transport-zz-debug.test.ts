import { it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { addToGrpcServer } from "../../src/server/grpc-adapter.js";
import { grpcClientFor } from "../../src/server/grpc-definition.js";
import { startListener } from "../../src/server/listener.js";
import { TransportTestService } from "./transport-test-service.js";

it("bp", async () => {
  let pulled = 0;
  const server = new grpc.Server();
  addToGrpcServer(server, TransportTestService, {
    async *serverStream(req) {
      const data = new Uint8Array(req.size);
      for (;;) { pulled++; yield { data }; }
    },
  });
  const l = await startListener({ host: "127.0.0.1", port: 0, grpcServer: server, httpHandler: (q, r) => r.end() });
  const c = grpcClientFor(TransportTestService, `127.0.0.1:${l.address().port}`);
  const call = c.serverStream({ size: 65536 });
  call.on("error", () => {});
  call.pause();
  for (let i = 0; i < 10; i++) { await new Promise(r => setTimeout(r, 100)); console.log("pulled", pulled, "client buffered", call.readableLength); }
  call.cancel(); c.close(); await l.close(100);
});
