/** The chat CLI as a user runs it, against the real server. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./helpers/server.js";

const run = promisify(execFile);
const tsx = "node_modules/.bin/tsx";

describe("npm run chat", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PARLEY_API_KEYS: "cli-test-key-1=alpha" });
  });
  afterAll(() => s.close(true));

  const chat = (args: string[]) =>
    run(tsx, ["src/cli/chat.ts", "--address", s.address, ...args], { env: { ...process.env, PARLEY_API_KEY: "cli-test-key-1" }, timeout: 20_000 });

  it("prints the streamed answer, the tool call and its result, and usage", async () => {
    const { stdout, stderr } = await chat(["what is 17*23?"]);
    expect(stderr).toMatch(/^conversation [0-9a-f-]{36}$/m);
    expect(stdout).toContain('⚙ calculator({"expression":"17*23"})');
    expect(stdout).toContain("→ 391");
    expect(stdout).toContain("17*23 = 391.");
    expect(stdout).toMatch(/\[\d+ in, \d+ out · 2 steps · first token \d+ ms · \d+ ms\]/);
  });

  it("--json prints one event per line, and --conversation continues a conversation", async () => {
    const first = await chat(["--json", "what is 17*23?"]);
    const events = first.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(events[0]!)).toContain("started");
    expect(events.map((e) => e["seq"])).toEqual(events.map((_, i) => i + 1));
    expect(Object.keys(events.at(-1)!)).toContain("complete");
    const conversationId = (events[0]!["started"] as { conversationId: string }).conversationId;
    const second = await chat(["--conversation", conversationId, "what was my previous question?"]);
    expect(second.stdout).toContain("17*23");
  });

  it("exits non-zero with the status when the key is wrong", async () => {
    const result = await run(tsx, ["src/cli/chat.ts", "--address", s.address, "--key", "wrong-key-999", "hi"], { timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    expect("code" in result && result.code).toBe(1);
    expect((result as { stderr: string }).stderr).toContain("UNAUTHENTICATED");
    expect((result as { stderr: string }).stderr).not.toContain("wrong-key-999");
  });
});
