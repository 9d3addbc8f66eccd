import type { ColumnType } from "kysely";

/**
 * Row shapes as stored. Times are epoch milliseconds in a bigint column; the
 * PostgreSQL driver returns bigint as a string, so reads accept both and the
 * row mappers normalize with Number().
 */
export type EpochMs = ColumnType<number | string, number, number>;
export type NullableEpochMs = ColumnType<number | string | null, number | null, number | null>;

/** JSON serialized to text so the same column type works on every dialect. */
export type JsonText = string;

export interface ConversationsTable {
  id: string;
  tenant: string;
  title: string;
  system_prompt: string;
  model: string;
  metadata: JsonText;
  create_time: EpochMs;
  update_time: EpochMs;
  message_count: number;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  role: string;
  content: string;
  tool_calls: JsonText;
  tool_call_id: string | null;
  tool_name: string | null;
  /** 0 or 1: an integer rather than a boolean keeps SQLite and PostgreSQL rows identical. */
  is_error: number;
  run_id: string | null;
  usage: JsonText | null;
  finish_reason: string | null;
  model: string | null;
  create_time: EpochMs;
}

export interface RunsTable {
  id: string;
  conversation_id: string;
  tenant: string;
  status: string;
  request_id: string | null;
  model: string;
  user_message_id: string;
  error_code: string | null;
  error_message: string | null;
  end_reason: string | null;
  usage: JsonText | null;
  steps: number;
  time_to_first_token_ms: number | null;
  start_time: EpochMs;
  end_time: NullableEpochMs;
}

export interface Database {
  conversations: ConversationsTable;
  messages: MessagesTable;
  runs: RunsTable;
}
