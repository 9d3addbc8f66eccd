/**
 * `npm run chat -- "what is 17*23?"`: talks to a running Parley over gRPC
 * (@grpc/grpc-js, like backend callers), streaming the answer as it comes.
 * Without a message it is interactive; `--json` prints one event per line.
 */
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { toJsonString } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ConversationService, type StreamMessageResponse } from "../../gen/parley/v1/conversation_service_pb.js";
import { RunEventSchema, type RunEvent } from "../../gen/parley/v1/events_pb.js";
import { grpcClientFor, type GrpcClient } from "../server/grpc-definition.js";

const USAGE = `usage: npm run chat -- [options] [message]

Sends a message to a Parley conversation and prints the answer as it streams.
Without a message, starts an interactive session (Ctrl-C cancels a turn, Ctrl-D quits).

options:
  --address HOST:PORT   server address (default $PARLEY_ADDRESS or 127.0.0.1:50051)
  --key KEY             API key (default $PARLEY_API_KEY)
  --conversation ID     continue this conversation instead of creating one
  --model NAME          model for this turn (from the server's allowed list)
  --system TEXT         system prompt for a new conversation
  --json                print every event as one JSON object per line
  -h, --help            this text`;

interface Options {
  address: string;
  key: string | undefined;
  conversation: string | undefined;
  model: string | undefined;
  system: string | undefined;
  json: boolean;
}

type Client = GrpcClient<typeof ConversationService>;

function metadataFor(opts: Options): grpc.Metadata {
  const md = new grpc.Metadata();
  if (opts.key) md.set("authorization", `Bearer ${opts.key}`);
  return md;
}

function describeError(err: unknown): string {
  const e = err as Partial<grpc.ServiceError>;
  // grpc-js appends an empty "Resolution note:" to connection errors.
  if (typeof e.code === "number") return `${grpc.status[e.code] ?? e.code}: ${(e.details ?? e.message ?? "").replace(/\s*Resolution note:\s*$/, "")}`;
  return err instanceof Error ? err.message : String(err);
}

async function createConversation(client: Client, opts: Options): Promise<string> {
  return await new Promise((resolve, reject) => {
    client.createConversation({ conversation: { systemPrompt: opts.system ?? "" } }, metadataFor(opts), (err, res) => {
      if (err || !res?.conversation) reject(err ?? new Error("no conversation in the response"));
      else resolve(res.conversation.id);
    });
  });
}

const ms = (d: Parameters<typeof durationMs>[0] | undefined) => (d ? `${Math.round(durationMs(d))} ms` : "-");

/** Prints one event for a person. */
function printHuman(e: RunEvent, out: NodeJS.WriteStream): void {
  switch (e.event.case) {
    case "chunk":
      out.write(e.event.value.text);
      break;
    case "toolCall":
      out.write(`\n  ⚙ ${e.event.value.name}(${JSON.stringify(e.event.value.arguments ?? {})})\n`);
      break;
    case "toolResult": {
      const r = e.event.value;
      out.write(`  ${r.isError ? "✗" : "→"} ${r.content} (${ms(r.duration)})\n`);
      break;
    }
    case "complete": {
      const c = e.event.value;
      const u = c.usage;
      const usage = u ? `${u.inputTokens} in, ${u.outputTokens} out${u.estimated ? " (estimated)" : ""}` : "no usage";
      out.write(`\n[${usage} · ${c.steps} step${c.steps === 1 ? "" : "s"} · first token ${ms(c.timeToFirstToken)} · ${ms(c.duration)}]\n`);
      break;
    }
    case "error":
      out.write(`\n[error: ${e.event.value.message}${e.event.value.retryable ? " (retryable)" : ""}]\n`);
      break;
    default:
      break;
  }
}

async function turn(client: Client, opts: Options, conversationId: string, content: string, signal?: AbortSignal): Promise<void> {
  const call = client.streamMessage(
    { conversationId, content, options: opts.model ? { model: opts.model } : undefined },
    metadataFor(opts),
  );
  const onAbort = () => call.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const res of call as AsyncIterable<StreamMessageResponse>) {
      if (!res.event) continue;
      if (opts.json) process.stdout.write(toJsonString(RunEventSchema, res.event) + "\n");
      else printHuman(res.event, process.stdout);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
    allowPositionals: true,
    options: {
      address: { type: "string" },
      key: { type: "string" },
      conversation: { type: "string" },
      model: { type: "string" },
      system: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const opts: Options = {
    address: values.address ?? process.env["PARLEY_ADDRESS"] ?? "127.0.0.1:50051",
    key: values.key ?? process.env["PARLEY_API_KEY"],
    conversation: values.conversation,
    model: values.model,
    system: values.system,
    json: values.json ?? false,
  };
  const message = positionals.join(" ").trim();
  if (positionals.length > 0 && message === "") {
    process.stderr.write("the message is empty\n");
    return 2;
  }
  const client = grpcClientFor(ConversationService, opts.address);
  try {
    const conversationId = opts.conversation ?? (await createConversation(client, opts));
    if (!opts.json) process.stderr.write(`conversation ${conversationId}\n`);
    if (message !== "") {
      await turn(client, opts, conversationId, message);
      return 0;
    }
    // With --json, stdout carries only events: the prompt goes to stderr.
    const rl = createInterface({ input: process.stdin, output: opts.json ? process.stderr : process.stdout, prompt: "you> " });
    let current: AbortController | null = null;
    rl.on("SIGINT", () => {
      if (current) current.abort();
      else rl.close();
    });
    rl.prompt();
    for await (const line of rl) {
      const text = line.trim();
      if (text !== "") {
        current = new AbortController();
        try {
          await turn(client, opts, conversationId, text, current.signal);
        } catch (err) {
          process.stderr.write(`\n${describeError(err)}\n`);
        }
        current = null;
      }
      rl.prompt();
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

// `npm run chat -- --json ... | head` closes our stdout early: that is a normal end, not a crash.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

main().then((code) => process.exit(code));
