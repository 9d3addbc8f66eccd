import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUniqueViolation } from "../src/store/kysely-store.js";
import { openSqliteStore, parseDatabaseUrl } from "../src/store/sqlite.js";
import type { ConversationRecord, FinishRunInput, NewMessage, RunRecord, StartRunInput, Store } from "../src/store/store.js";

/*
 * The contract every Store implementation must pass. `open` must open the same database on every
 * call (so close-and-reopen can be tested); each test works in its own fresh tenant, so tests never
 * see each other's rows even though they share the database.
 */
function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
    });

    const t0 = Date.UTC(2025, 0, 1);
    const at = (ms: number): Date => new Date(t0 + ms);

    async function conversation(tenant: string, title = "chat"): Promise<ConversationRecord> {
      return store.createConversation({
        id: uuidv7(),
        tenant,
        title,
        systemPrompt: "be brief",
        model: "offline",
        metadata: { team: "core", "x-y": "z" },
        createTime: at(0),
      });
    }

    function userMessage(text: string): NewMessage {
      return {
        id: uuidv7(),
        role: "user",
        content: text,
        toolCalls: [],
        toolCallId: null,
        toolName: null,
        isError: false,
        runId: null,
        usage: null,
        finishReason: null,
        model: null,
      };
    }

    function startInput(tenant: string, conversationId: string, over: Partial<StartRunInput> = {}): StartRunInput {
      return {
        tenant,
        conversationId,
        runId: uuidv7(),
        requestId: null,
        model: "offline",
        userMessage: userMessage("hello"),
        startTime: at(1000),
        ...over,
      };
    }

    async function started(input: StartRunInput): Promise<RunRecord> {
      const result = await store.startRun(input);
      if (result.kind !== "started") throw new Error(`expected started, got ${result.kind}`);
      return result.run;
    }

    function finishInput(run: RunRecord, over: Partial<FinishRunInput> = {}): FinishRunInput {
      return {
        tenant: run.tenant,
        conversationId: run.conversationId,
        runId: run.id,
        status: "completed",
        endReason: "completed",
        errorCode: null,
        errorMessage: null,
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15, estimated: false },
        steps: 2,
        timeToFirstTokenMs: 42,
        endTime: at(5000),
        messages: [],
        ...over,
      };
    }

    /** An assistant tool call, its result and the final answer: the shape of a tool-using turn. */
    function toolTurn(runId: string): NewMessage[] {
      const callId = "call_1";
      return [
        {
          id: uuidv7(),
          role: "assistant",
          content: "",
          toolCalls: [
            { id: callId, name: "calculator", args: { expression: "2+2" } },
            { id: "call_2", name: "clock", args: null },
          ],
          toolCallId: null,
          toolName: null,
          isError: false,
          runId,
          usage: { inputTokens: 7, outputTokens: 3, totalTokens: 10, estimated: true },
          finishReason: "tool_calls",
          model: "offline",
          createTime: at(2000),
        },
        {
          id: uuidv7(),
          role: "tool",
          content: "4",
          toolCalls: [],
          toolCallId: callId,
          toolName: "calculator",
          isError: false,
          runId,
          usage: null,
          finishReason: null,
          model: null,
        },
        {
          id: uuidv7(),
          role: "tool",
          content: "bad arguments",
          toolCalls: [],
          toolCallId: "call_2",
          toolName: "clock",
          isError: true,
          runId,
          usage: null,
          finishReason: null,
          model: null,
        },
        {
          id: uuidv7(),
          role: "assistant",
          content: "2+2 is 4",
          toolCalls: [],
          toolCallId: null,
          toolName: null,
          isError: false,
          runId,
          usage: null,
          finishReason: "stop",
          model: "offline",
        },
      ];
    }

    it("creates and gets a conversation", async () => {
      const tenant = uuidv7();
      const created = await conversation(tenant, "first");
      expect(created).toMatchObject({
        tenant,
        title: "first",
        systemPrompt: "be brief",
        model: "offline",
        metadata: { team: "core", "x-y": "z" },
        messageCount: 0,
      });
      expect(created.createTime).toEqual(at(0));
      expect(created.updateTime).toEqual(at(0));
      expect(await store.getConversation(tenant, created.id)).toEqual(created);
      expect(await store.getConversation(tenant, uuidv7())).toBeNull();
    });

    it("lists conversations newest first with keyset paging", async () => {
      const tenant = uuidv7();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await conversation(tenant, `c${i}`)).id);
      const seen: string[] = [];
      const sizes: number[] = [];
      let afterId: string | null = null;
      for (let guard = 0; guard < 10; guard++) {
        const page = await store.listConversations(tenant, { pageSize: 3, afterId });
        sizes.push(page.items.length);
        seen.push(...page.items.map((c) => c.id));
        if (page.nextAfterId === null) break;
        expect(page.nextAfterId).toBe(page.items[page.items.length - 1]?.id);
        afterId = page.nextAfterId;
      }
      expect(sizes).toEqual([3, 3, 1]);
      expect(seen).toEqual([...ids].reverse());
    });

    it("ends paging exactly on a full last page", async () => {
      const tenant = uuidv7();
      for (let i = 0; i < 6; i++) await conversation(tenant);
      const first = await store.listConversations(tenant, { pageSize: 3, afterId: null });
      expect(first.nextAfterId).not.toBeNull();
      const second = await store.listConversations(tenant, { pageSize: 3, afterId: first.nextAfterId });
      expect(second.items).toHaveLength(3);
      expect(second.nextAfterId).toBeNull();
      const empty = await store.listConversations(uuidv7(), { pageSize: 3, afterId: null });
      expect(empty).toEqual({ items: [], nextAfterId: null });
    });

    it("rejects a non-positive page size", async () => {
      await expect(store.listConversations(uuidv7(), { pageSize: 0, afterId: null })).rejects.toThrow(RangeError);
    });

    it("treats another tenant's rows as missing on every method", async () => {
      const owner = uuidv7();
      const other = uuidv7();
      const conv = await conversation(owner);
      const run = await started(startInput(owner, conv.id));

      expect(await store.getConversation(other, conv.id)).toBeNull();
      expect((await store.listConversations(other, { pageSize: 10, afterId: null })).items).toEqual([]);
      expect(await store.listMessages(other, conv.id, { pageSize: 10, afterId: null })).toBeNull();
      expect(await store.history(other, conv.id)).toEqual([]);
      expect(await store.getRun(other, run.id)).toBeNull();
      expect(await store.startRun(startInput(other, conv.id))).toEqual({ kind: "not_found" });
      await expect(store.finishRun({ ...finishInput(run), tenant: other })).rejects.toThrow(/not found/);
      expect(await store.getRun(owner, run.id)).toMatchObject({ status: "running" });
      await store.finishRun(finishInput(run));
      expect(await store.deleteConversation(other, conv.id)).toBe("not_found");

      expect(await store.getConversation(owner, conv.id)).toMatchObject({ id: conv.id, messageCount: 1 });
      expect(await store.history(owner, conv.id)).toHaveLength(1);
    });

    it("lists messages oldest first with paging, matching history", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      await store.finishRun(finishInput(run, { messages: toolTurn(run.id) }));

      const history = await store.history(tenant, conv.id);
      expect(history.map((m) => m.role)).toEqual(["user", "assistant", "tool", "tool", "assistant"]);
      const paged: string[] = [];
      const sizes: number[] = [];
      let afterId: string | null = null;
      for (let guard = 0; guard < 10; guard++) {
        const page = await store.listMessages(tenant, conv.id, { pageSize: 2, afterId });
        if (page === null) throw new Error("conversation vanished");
        sizes.push(page.items.length);
        paged.push(...page.items.map((m) => m.id));
        if (page.nextAfterId === null) break;
        afterId = page.nextAfterId;
      }
      expect(sizes).toEqual([2, 2, 1]);
      expect(paged).toEqual(history.map((m) => m.id));
      expect(await store.listMessages(tenant, uuidv7(), { pageSize: 2, afterId: null })).toBeNull();
      const empty = await conversation(tenant);
      expect(await store.listMessages(tenant, empty.id, { pageSize: 2, afterId: null })).toEqual({
        items: [],
        nextAfterId: null,
      });
    });

    it("starts a run: stores the user message and a running run", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const input = startInput(tenant, conv.id, { requestId: "req-1" });
      const run = await started(input);
      expect(run).toEqual({
        id: input.runId,
        conversationId: conv.id,
        tenant,
        status: "running",
        requestId: "req-1",
        model: "offline",
        userMessageId: input.userMessage.id,
        errorCode: null,
        errorMessage: null,
        endReason: null,
        usage: null,
        steps: 0,
        timeToFirstTokenMs: null,
        startTime: at(1000),
        endTime: null,
      });
      expect(await store.getRun(tenant, run.id)).toEqual(run);
      expect(await store.history(tenant, conv.id)).toEqual([
        { ...input.userMessage, conversationId: conv.id, createTime: at(1000) },
      ]);
      expect(await store.getConversation(tenant, conv.id)).toMatchObject({ messageCount: 1, updateTime: at(1000) });
    });

    it("answers not_found, busy and duplicate without storing anything", async () => {
      const tenant = uuidv7();
      expect(await store.startRun(startInput(tenant, uuidv7()))).toEqual({ kind: "not_found" });

      const conv = await conversation(tenant);
      const first = await started(startInput(tenant, conv.id, { requestId: "req-a" }));
      expect(await store.startRun(startInput(tenant, conv.id))).toEqual({ kind: "busy", activeRunId: first.id });
      // A retry of the running request is a duplicate, not busy: the caller can reattach to it.
      expect(await store.startRun(startInput(tenant, conv.id, { requestId: "req-a" }))).toEqual({
        kind: "duplicate",
        existingRunId: first.id,
      });
      await store.finishRun(finishInput(first));
      expect(await store.startRun(startInput(tenant, conv.id, { requestId: "req-a" }))).toEqual({
        kind: "duplicate",
        existingRunId: first.id,
      });
      expect(await store.history(tenant, conv.id)).toHaveLength(1);
      expect(await store.getConversation(tenant, conv.id)).toMatchObject({ messageCount: 1 });

      // Request ids are scoped to the conversation.
      const otherConv = await conversation(tenant);
      await started(startInput(tenant, otherConv.id, { requestId: "req-a" }));
    });

    it("lets exactly one of several concurrent startRun calls start", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const results = await Promise.all(Array.from({ length: 5 }, () => store.startRun(startInput(tenant, conv.id))));
      const winners = results.filter((r) => r.kind === "started");
      expect(winners).toHaveLength(1);
      const winner = winners[0];
      if (winner?.kind !== "started") throw new Error("unreachable");
      for (const r of results) {
        if (r !== winner) expect(r).toEqual({ kind: "busy", activeRunId: winner.run.id });
      }
      expect(await store.getConversation(tenant, conv.id)).toMatchObject({ messageCount: 1 });
      expect(await store.history(tenant, conv.id)).toHaveLength(1);
    });

    it("turns a concurrent retry of the same request into one start and a duplicate", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const [a, b] = await Promise.all([
        store.startRun(startInput(tenant, conv.id, { requestId: "same" })),
        store.startRun(startInput(tenant, conv.id, { requestId: "same" })),
      ]);
      const kinds = [a?.kind, b?.kind].sort();
      expect(kinds).toEqual(["duplicate", "started"]);
    });

    it("finishes a run: stores its messages and end state, bumps counts", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      const messages = toolTurn(run.id);
      await store.finishRun(finishInput(run, { messages }));

      expect(await store.getRun(tenant, run.id)).toEqual({
        ...run,
        status: "completed",
        endReason: "completed",
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15, estimated: false },
        steps: 2,
        timeToFirstTokenMs: 42,
        endTime: at(5000),
      });
      const stored = (await store.history(tenant, conv.id)).slice(1);
      expect(stored).toEqual(
        messages.map((m) => ({ ...m, conversationId: conv.id, createTime: m.createTime ?? at(5000) })),
      );
      expect(stored[0]?.toolCalls[1]?.args).toBeNull();
      expect(stored[2]?.isError).toBe(true);
      expect(await store.getConversation(tenant, conv.id)).toMatchObject({ messageCount: 5, updateTime: at(5000) });

      // The conversation is free again.
      await started(startInput(tenant, conv.id, { startTime: at(6000) }));
    });

    it("stores a failed run's error", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      await store.finishRun(
        finishInput(run, {
          status: "failed",
          endReason: "caller_deadline",
          errorCode: "DEADLINE_EXCEEDED",
          errorMessage: "deadline exceeded",
          usage: null,
          timeToFirstTokenMs: null,
        }),
      );
      expect(await store.getRun(tenant, run.id)).toMatchObject({
        status: "failed",
        endReason: "caller_deadline",
        errorCode: "DEADLINE_EXCEEDED",
        errorMessage: "deadline exceeded",
        usage: null,
        timeToFirstTokenMs: null,
      });
    });

    it("refuses to finish a run that is not running, changing nothing", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      await store.finishRun(finishInput(run));
      await expect(
        store.finishRun(finishInput(run, { status: "cancelled", messages: toolTurn(run.id) })),
      ).rejects.toThrow(/already completed/);
      await expect(store.finishRun(finishInput({ ...run, id: uuidv7() }))).rejects.toThrow(/not found/);
      expect(await store.getRun(tenant, run.id)).toMatchObject({ status: "completed" });
      expect(await store.history(tenant, conv.id)).toHaveLength(1);
      expect(await store.getConversation(tenant, conv.id)).toMatchObject({ messageCount: 1 });
    });

    it("deletes a conversation with its messages and runs, but not while a run is running", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const keep = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      expect(await store.deleteConversation(tenant, conv.id)).toBe("busy");
      expect(await store.getConversation(tenant, conv.id)).not.toBeNull();

      await store.finishRun(finishInput(run, { messages: toolTurn(run.id) }));
      expect(await store.deleteConversation(tenant, conv.id)).toBe("deleted");
      expect(await store.getConversation(tenant, conv.id)).toBeNull();
      expect(await store.history(tenant, conv.id)).toEqual([]);
      expect(await store.listMessages(tenant, conv.id, { pageSize: 10, afterId: null })).toBeNull();
      expect(await store.getRun(tenant, run.id)).toBeNull();
      expect(await store.deleteConversation(tenant, conv.id)).toBe("not_found");
      expect(await store.getConversation(tenant, keep.id)).not.toBeNull();
    });

    it("fails runs left running by a previous process", async () => {
      const tenant = uuidv7();
      const a = await conversation(tenant);
      const b = await conversation(tenant);
      const runA = await started(startInput(tenant, a.id));
      const runB = await started(startInput(tenant, b.id));
      const done = await started(startInput(tenant, (await conversation(tenant)).id));
      await store.finishRun(finishInput(done));

      // The database is shared with earlier tests, which may have left runs running too.
      expect(await store.failInterruptedRuns(at(9000))).toBeGreaterThanOrEqual(2);
      for (const run of [runA, runB]) {
        expect(await store.getRun(tenant, run.id)).toMatchObject({
          status: "failed",
          endReason: "interrupted",
          errorCode: "UNAVAILABLE",
          endTime: at(9000),
        });
      }
      expect(await store.getRun(tenant, done.id)).toMatchObject({ status: "completed", endTime: at(5000) });
      expect(await store.failInterruptedRuns(at(9001))).toBe(0);
      await started(startInput(tenant, a.id));
    });

    it("answers ping", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it("keeps data across close and reopen", async () => {
      const tenant = uuidv7();
      const conv = await conversation(tenant);
      const run = await started(startInput(tenant, conv.id));
      await store.finishRun(finishInput(run, { messages: toolTurn(run.id) }));
      const before = {
        conv: await store.getConversation(tenant, conv.id),
        run: await store.getRun(tenant, run.id),
        history: await store.history(tenant, conv.id),
      };
      await store.close();
      store = await open();
      expect({
        conv: await store.getConversation(tenant, conv.id),
        run: await store.getRun(tenant, run.id),
        history: await store.history(tenant, conv.id),
      }).toEqual(before);
      expect(before.history).toHaveLength(5);
    });
  });
}

describe("SQLite", () => {
  const dir = mkdtempSync(join(tmpdir(), "parley-store-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The nested folder checks that the parent directory is created.
  const contractPath = join(dir, "nested", "contract.db");
  storeContract("SQLite file", () => openSqliteStore(contractPath));

  it("runs migrations once, however often the database is opened", async () => {
    const path = join(dir, "migrate.db");
    await (await openSqliteStore(path)).close();
    await (await openSqliteStore(path)).close();
    const raw = new BetterSqlite3(path, { readonly: true });
    try {
      const applied = raw.prepare("select name from kysely_migration order by name").pluck().all();
      expect(applied).toEqual(["0001_initial"]);
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      raw.close();
    }
  });

  it("reports a failing migration clearly", async () => {
    const path = join(dir, "broken.db");
    const raw = new BetterSqlite3(path);
    raw.exec("create table conversations (id text)");
    raw.close();
    await expect(openSqliteStore(path)).rejects.toThrow(/migrating the SQLite database .* failed at migration "0001_initial"/);
  });

  it("enforces unique request ids per conversation, ignoring null ones", async () => {
    const path = join(dir, "unique.db");
    await (await openSqliteStore(path)).close();
    const raw = new BetterSqlite3(path);
    try {
      raw.prepare("insert into conversations values ('c', 't', '', '', 'm', '{}', 0, 0, 0)").run();
      const insertRun = raw.prepare(
        "insert into runs (id, conversation_id, tenant, status, request_id, model, user_message_id, steps, start_time) " +
          "values (?, 'c', 't', 'completed', ?, 'm', 'u', 0, 0)",
      );
      insertRun.run("r1", null);
      insertRun.run("r2", null);
      insertRun.run("r3", "req");
      let caught: unknown;
      try {
        insertRun.run("r4", "req");
      } catch (error) {
        caught = error;
      }
      expect(isUniqueViolation(caught)).toBe(true);
      expect(isUniqueViolation(new Error("other"))).toBe(false);
    } finally {
      raw.close();
    }
  });

  it("opens an in-memory database", async () => {
    const store = await openSqliteStore(":memory:");
    const conv = await store.createConversation({
      id: uuidv7(),
      tenant: "t",
      title: "",
      systemPrompt: "",
      model: "m",
      metadata: {},
      createTime: new Date(),
    });
    expect(await store.getConversation("t", conv.id)).toEqual(conv);
    await store.close();
    await store.close();
  });
});

describe("parseDatabaseUrl", () => {
  it.each([
    ["sqlite:./data/parley.db", "./data/parley.db"],
    ["sqlite:data/parley.db", "data/parley.db"],
    ["sqlite:///abs/path.db", "/abs/path.db"],
    ["sqlite:/abs/path.db", "/abs/path.db"],
    ["sqlite::memory:", ":memory:"],
  ])("parses %s", (url, path) => {
    expect(parseDatabaseUrl(url)).toEqual({ kind: "sqlite", path });
  });

  it("rejects PostgreSQL for now", () => {
    expect(() => parseDatabaseUrl("postgres://u:secret@db/parley")).toThrow("PostgreSQL is not supported yet");
    expect(() => parseDatabaseUrl("postgresql://db/parley")).toThrow("PostgreSQL is not supported yet");
  });

  it("rejects other schemes and malformed URLs without echoing them", () => {
    expect(() => parseDatabaseUrl("mysql://u:secret@db/x")).toThrow(/unsupported database URL scheme "mysql:"/);
    expect(() => parseDatabaseUrl("mysql://u:secret@db/x")).not.toThrow(/secret/);
    expect(() => parseDatabaseUrl("./data/parley.db")).toThrow(/must start with a scheme/);
    expect(() => parseDatabaseUrl("sqlite:")).toThrow(/has no path/);
  });
});
