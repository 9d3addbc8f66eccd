import type { Kysely, Migration, MigrationProvider } from "kysely";

/**
 * Schema migrations, kept in code so the service ships as one artifact with
 * no migration folder to locate at run time. Written with the schema builder
 * only, so the same migrations run on SQLite and PostgreSQL.
 *
 * Never edit a migration that has shipped; add a new one. Names sort
 * lexically, which is the order Kysely applies them in.
 */
export const migrations: Record<string, Migration> = {
  "0001_initial": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("conversations")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("title", "text", (c) => c.notNull())
        .addColumn("system_prompt", "text", (c) => c.notNull())
        .addColumn("model", "text", (c) => c.notNull())
        .addColumn("metadata", "text", (c) => c.notNull())
        .addColumn("create_time", "bigint", (c) => c.notNull())
        .addColumn("update_time", "bigint", (c) => c.notNull())
        .addColumn("message_count", "integer", (c) => c.notNull().defaultTo(0))
        .execute();

      await db.schema
        .createTable("messages")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("conversation_id", "text", (c) =>
          c.notNull().references("conversations.id").onDelete("cascade"),
        )
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("content", "text", (c) => c.notNull())
        .addColumn("tool_calls", "text", (c) => c.notNull())
        .addColumn("tool_call_id", "text")
        .addColumn("tool_name", "text")
        .addColumn("is_error", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("run_id", "text")
        .addColumn("usage", "text")
        .addColumn("finish_reason", "text")
        .addColumn("model", "text")
        .addColumn("create_time", "bigint", (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("runs")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("conversation_id", "text", (c) =>
          c.notNull().references("conversations.id").onDelete("cascade"),
        )
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("request_id", "text")
        .addColumn("model", "text", (c) => c.notNull())
        .addColumn("user_message_id", "text", (c) => c.notNull())
        .addColumn("error_code", "text")
        .addColumn("error_message", "text")
        .addColumn("end_reason", "text")
        .addColumn("usage", "text")
        .addColumn("steps", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("time_to_first_token_ms", "integer")
        .addColumn("start_time", "bigint", (c) => c.notNull())
        .addColumn("end_time", "bigint")
        .execute();

      // Keyset paging of a tenant's conversations.
      await db.schema
        .createIndex("conversations_tenant_id_idx")
        .on("conversations")
        .columns(["tenant", "id"])
        .execute();
      // Keyset paging and full history of a conversation.
      await db.schema
        .createIndex("messages_conversation_id_idx")
        .on("messages")
        .columns(["conversation_id", "id"])
        .execute();
      // The "is a run running on this conversation" check of every turn.
      await db.schema
        .createIndex("runs_conversation_status_idx")
        .on("runs")
        .columns(["conversation_id", "status"])
        .execute();
      // Idempotent retries: the last line of defence when two processes race past the duplicate check.
      await db.schema
        .createIndex("runs_conversation_request_uq")
        .on("runs")
        .columns(["conversation_id", "request_id"])
        .unique()
        .where("request_id", "is not", null)
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable("runs").execute();
      await db.schema.dropTable("messages").execute();
      await db.schema.dropTable("conversations").execute();
    },
  },
};

export class CodeMigrationProvider implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations);
  }
}
