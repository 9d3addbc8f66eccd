/**
 * Makes the StreamMessage ghz configs usable at a concurrency above one.
 *
 * A conversation runs one turn at a time (a second concurrent turn is
 * refused with ABORTED), and ghz data templates cannot create
 * conversations. This script creates N conversations on a running server
 * and writes copies of stream-message.json and stream-message-cancel.json
 * whose `data` is an array of N requests: for unary and server-streaming
 * calls ghz sends element `RequestNumber % N` with each request, so with
 * N ≥ 2 × concurrency two turns in flight practically never share a
 * conversation.
 *
 *   node --import tsx bench/ghz/prepare.ts --address 127.0.0.1:50051 --conversations 100 --concurrency 50
 *   ghz --config bench/ghz/prepared/stream-message.json
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { ConversationService } from "../../gen/parley/v1/conversation_service_pb.js";
import { grpcClientFor } from "../../src/server/grpc-definition.js";

const HERE = dirname(fileURLToPath(import.meta.url));

const USAGE = `usage: node --import tsx bench/ghz/prepare.ts [--address HOST:PORT] [--conversations N] [--concurrency C] [--key KEY] [--out DIR]
  --address        the server (default $PARLEY_ADDRESS or 127.0.0.1:50051)
  --conversations  conversations to create (default 100)
  --concurrency    ghz concurrency written into the configs (default conversations / 2)
  --key            API key, sent as "authorization: Bearer KEY" (default $PARLEY_API_KEY)
  --out            where the configs go (default bench/ghz/prepared)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      address: { type: "string", default: process.env["PARLEY_ADDRESS"] ?? "127.0.0.1:50051" },
      conversations: { type: "string", default: "100" },
      concurrency: { type: "string" },
      key: { type: "string", default: process.env["PARLEY_API_KEY"] },
      out: { type: "string", default: join(HERE, "prepared") },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const n = Number(values.conversations);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new Error("--conversations must be an integer from 1 to 100000");
  const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : Math.max(1, Math.floor(n / 2));
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error("--concurrency must be a positive integer");
  if (concurrency * 2 > n) console.warn(`warning: ${n} conversations for concurrency ${concurrency}: some turns may be refused with ABORTED (conversation busy)`);

  const client = grpcClientFor(ConversationService, values.address);
  const md = new grpc.Metadata();
  if (values.key) md.set("authorization", `Bearer ${values.key}`);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      await new Promise<string>((resolve, reject) =>
        client.createConversation({ conversation: { title: `ghz ${i + 1}` } }, md, { deadline: Date.now() + 10_000 }, (err, res) => {
          if (err || !res?.conversation) reject(err ?? new Error("no conversation in the response"));
          else resolve(res.conversation.id);
        }),
      ),
    );
  }
  client.close();

  mkdirSync(values.out, { recursive: true });
  for (const name of ["stream-message.json", "stream-message-cancel.json"]) {
    const config = JSON.parse(readFileSync(join(HERE, name), "utf8")) as Record<string, unknown> & { data: { content: string } };
    const out = {
      ...config,
      name: `parley ${name.replace(/\.json$/, "")}: ${n} conversations, concurrency ${concurrency}`,
      host: values.address,
      concurrency,
      data: ids.map((id) => ({ conversation_id: id, content: config.data.content })),
      ...(values.key ? { metadata: { authorization: `Bearer ${values.key}` } } : {}),
    };
    const path = join(values.out, name);
    writeFileSync(path, JSON.stringify(out, null, 2) + "\n");
    console.log(`wrote ${relative(process.cwd(), path)} (${n} conversations, concurrency ${concurrency})`);
  }
}

main().catch((err: unknown) => {
  console.error(`prepare: ${err instanceof Error ? err.message : String(err)}`);
  console.error(USAGE);
  process.exit(1);
});
