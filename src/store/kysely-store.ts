import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";
import {
  conversationFromRow,
  conversationToRow,
  messageFromRow,
  messageToRow,
  runFromRow,
  toEpochMs,
  usageToColumn,
} from "./rows.js";
import type {
  ConversationRecord,
  FinishRunInput,
  MessageRecord,
  NewConversation,
  Page,
  PageRequest,
  RunRecord,
  StartRunInput,
  StartRunResult,
  Store,
} from "./store.js";

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The Store on any Kysely dialect with RETURNING (SQLite, PostgreSQL). Dialect
 * differences stay out of here: no ON CONFLICT, no FOR UPDATE, no pragmas.
 */
export class KyselyStore implements Store {
  private closed = false;

  constructor(private readonly db: Kysely<Database>) {}

  async createConversation(input: NewConversation): Promise<ConversationRecord> {
    const row = await this.db
      .insertInto("conversations")
      .values(conversationToRow(input))
      .returningAll()
      .executeTakeFirstOrThrow();
    return conversationFromRow(row);
  }

  async getConversation(tenant: string, id: string): Promise<ConversationRecord | null> {
    const row = await this.db
      .selectFrom("conversations")
      .selectAll()
      .where("tenant", "=", tenant)
      .where("id", "=", id)
      .executeTakeFirst();
    return row === undefined ? null : conversationFromRow(row);
  }

  async listConversations(tenant: string, page: PageRequest): Promise<Page<ConversationRecord>> {
    const size = checkPageSize(page.pageSize);
    let query = this.db.selectFrom("conversations").selectAll().where("tenant", "=", tenant);
    if (page.afterId !== null) query = query.where("id", "<", page.afterId);
    // One extra row tells whether another page exists without a count query.
    const rows = await query.orderBy("id", "desc").limit(size + 1).execute();
    return toPage(rows.map(conversationFromRow), size);
  }

  async deleteConversation(tenant: string, id: string): Promise<"deleted" | "not_found" | "busy"> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await lockConversation(trx, tenant, id))) return "not_found";
      if ((await runningRunId(trx, id)) !== null) return "busy";
      // Children are deleted explicitly so behaviour never depends on a connection's foreign_keys setting.
      await trx.deleteFrom("messages").where("conversation_id", "=", id).execute();
      await trx.deleteFrom("runs").where("conversation_id", "=", id).execute();
      await trx.deleteFrom("conversations").where("id", "=", id).where("tenant", "=", tenant).execute();
      return "deleted";
    });
  }

  async listMessages(
    tenant: string,
    conversationId: string,
    page: PageRequest,
  ): Promise<Page<MessageRecord> | null> {
    const size = checkPageSize(page.pageSize);
    return this.db.transaction().execute(async (trx) => {
      if (!(await conversationExists(trx, tenant, conversationId))) return null;
      let query = trx.selectFrom("messages").selectAll().where("conversation_id", "=", conversationId);
      if (page.afterId !== null) query = query.where("id", ">", page.afterId);
      const rows = await query.orderBy("id", "asc").limit(size + 1).execute();
      return toPage(rows.map(messageFromRow), size);
    });
  }

  async history(tenant: string, conversationId: string): Promise<MessageRecord[]> {
    const rows = await this.db
      .selectFrom("messages")
      .innerJoin("conversations", "conversations.id", "messages.conversation_id")
      .selectAll("messages")
      .where("conversations.tenant", "=", tenant)
      .where("messages.conversation_id", "=", conversationId)
      .orderBy("messages.id", "asc")
      .execute();
    return rows.map(messageFromRow);
  }

  async startRun(input: StartRunInput): Promise<StartRunResult> {
    try {
      return await this.db.transaction().execute(async (trx) => this.startRunIn(trx, input));
    } catch (error) {
      // Another process may insert the same request id between our check and insert; the unique
      // index then rejects ours, and the caller must see the same answer as a sequential retry.
      if (input.requestId !== null && isUniqueViolation(error)) {
        const existing = await runIdByRequestId(this.db, input.tenant, input.conversationId, input.requestId);
        if (existing !== null) return { kind: "duplicate", existingRunId: existing };
      }
      throw error;
    }
  }

  private async startRunIn(trx: Transaction<Database>, input: StartRunInput): Promise<StartRunResult> {
    const { tenant, conversationId } = input;
    if (!(await lockConversation(trx, tenant, conversationId))) return { kind: "not_found" };
    if (input.requestId !== null) {
      const existing = await runIdByRequestId(trx, tenant, conversationId, input.requestId);
      if (existing !== null) return { kind: "duplicate", existingRunId: existing };
    }
    const active = await runningRunId(trx, conversationId);
    if (active !== null) return { kind: "busy", activeRunId: active };

    await trx.insertInto("messages").values(messageToRow(conversationId, input.userMessage, input.startTime)).execute();
    const run = await trx
      .insertInto("runs")
      .values({
        id: input.runId,
        conversation_id: conversationId,
        tenant,
        status: "running",
        request_id: input.requestId,
        model: input.model,
        user_message_id: input.userMessage.id,
        error_code: null,
        error_message: null,
        end_reason: null,
        usage: null,
        steps: 0,
        time_to_first_token_ms: null,
        start_time: toEpochMs(input.startTime),
        end_time: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await bumpConversation(trx, tenant, conversationId, 1, input.startTime);
    return { kind: "started", run: runFromRow(run) };
  }

  async finishRun(input: FinishRunInput): Promise<void> {
    const { tenant, conversationId, runId } = input;
    await this.db.transaction().execute(async (trx) => {
      // The status guard in the WHERE makes "finish once" atomic instead of check-then-write.
      const result = await trx
        .updateTable("runs")
        .set({
          status: input.status,
          end_reason: input.endReason,
          error_code: input.errorCode,
          error_message: input.errorMessage,
          usage: usageToColumn(input.usage),
          steps: input.steps,
          time_to_first_token_ms: input.timeToFirstTokenMs,
          end_time: toEpochMs(input.endTime),
        })
        .where("id", "=", runId)
        .where("tenant", "=", tenant)
        .where("conversation_id", "=", conversationId)
        .where("status", "=", "running")
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) {
        const run = await trx
          .selectFrom("runs")
          .select("status")
          .where("id", "=", runId)
          .where("tenant", "=", tenant)
          .where("conversation_id", "=", conversationId)
          .executeTakeFirst();
        throw new Error(
          run === undefined
            ? `finishRun: run ${runId} not found on conversation ${conversationId}`
            : `finishRun: run ${runId} is already ${run.status}`,
        );
      }
      if (input.messages.length > 0) {
        await trx
          .insertInto("messages")
          .values(input.messages.map((m) => messageToRow(conversationId, m, input.endTime)))
          .execute();
      }
      await bumpConversation(trx, tenant, conversationId, input.messages.length, input.endTime);
    });
  }

  async getRun(tenant: string, runId: string): Promise<RunRecord | null> {
    const row = await this.db
      .selectFrom("runs")
      .selectAll()
      .where("tenant", "=", tenant)
      .where("id", "=", runId)
      .executeTakeFirst();
    return row === undefined ? null : runFromRow(row);
  }

  async failInterruptedRuns(now: Date): Promise<number> {
    const result = await this.db
      .updateTable("runs")
      .set({
        status: "failed",
        end_reason: "interrupted",
        error_code: "UNAVAILABLE",
        error_message: "the server stopped before the run finished",
        end_time: toEpochMs(now),
      })
      .where("status", "=", "running")
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
  }
}

/**
 * Takes the conversation's write lock as the transaction's first statement: a row lock on
 * PostgreSQL, the database write lock on SQLite (so a WAL reader never has to upgrade to a
 * writer mid-transaction, which fails with SQLITE_BUSY instead of waiting). Concurrent turns on
 * one conversation therefore serialize here. False when the conversation is not the tenant's.
 */
async function lockConversation(trx: Transaction<Database>, tenant: string, id: string): Promise<boolean> {
  const result = await trx
    .updateTable("conversations")
    .set((eb) => ({ message_count: eb.ref("message_count") }))
    .where("id", "=", id)
    .where("tenant", "=", tenant)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

async function conversationExists(db: Db, tenant: string, id: string): Promise<boolean> {
  const row = await db
    .selectFrom("conversations")
    .select("id")
    .where("id", "=", id)
    .where("tenant", "=", tenant)
    .executeTakeFirst();
  return row !== undefined;
}

async function runningRunId(db: Db, conversationId: string): Promise<string | null> {
  const row = await db
    .selectFrom("runs")
    .select("id")
    .where("conversation_id", "=", conversationId)
    .where("status", "=", "running")
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}

async function runIdByRequestId(
  db: Db,
  tenant: string,
  conversationId: string,
  requestId: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("runs")
    .select("id")
    .where("tenant", "=", tenant)
    .where("conversation_id", "=", conversationId)
    .where("request_id", "=", requestId)
    .executeTakeFirst();
  return row?.id ?? null;
}

async function bumpConversation(
  trx: Transaction<Database>,
  tenant: string,
  id: string,
  added: number,
  time: Date,
): Promise<void> {
  await trx
    .updateTable("conversations")
    .set((eb) => ({ message_count: eb("message_count", "+", added), update_time: toEpochMs(time) }))
    .where("id", "=", id)
    .where("tenant", "=", tenant)
    .execute();
}

function checkPageSize(pageSize: number): number {
  // Defaults and limits belong to the API layer; a bad size reaching the store is a bug.
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new RangeError(`page size must be a positive integer, got ${pageSize}`);
  }
  return pageSize;
}

function toPage<T extends { id: string }>(rows: T[], size: number): Page<T> {
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  return { items, nextAfterId: rows.length > size && last !== undefined ? last.id : null };
}

/** A unique-constraint violation, as reported by better-sqlite3 or node-postgres. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  const code = error.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505";
}
