import { it, expect } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { simulated } from "./helpers/providers.js";
import { unary } from "./helpers/server.js";
it("dbg", async () => {
  const s = await simulated.start({ PARLEY_STREAM_BUFFER_BYTES: "16384", PARLEY_SLOW_READER_TIMEOUT_MS: "1500", PARLEY_LOG_LEVEL: "debug" });
  const { res } = await unary(s.grpc.createConversation.bind(s.grpc), { conversation: {} });
  const call = s.grpc.streamMessage({ conversationId: res!.conversation!.id, content: "count to 100000" });
  let n = 0; let last: any;
  const ended = new Promise<void>((resolve) => {
    call.on("data", (r: any) => { n++; last = r.event; if (n === 2) call.pause(); });
    call.on("error", (e: grpc.ServiceError) => console.log("ERR", e.code, e.details));
    call.on("status", (st) => { console.log("STATUS", st.code, st.details); resolve(); });
  });
  await new Promise((r) => setTimeout(r, 2500));
  console.log("produced", s.produced(), "disconnects", s.sim!.stats);
  call.resume();
  await ended;
  console.log("events", n, last?.event?.case, JSON.stringify(last?.event?.value).slice(0, 300));
  await s.close(true);
}, 60000);
