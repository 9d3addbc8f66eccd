import type { Insertable, Selectable } from "kysely";
import type { ConversationsTable, MessagesTable, RunsTable } from "./schema.js";
import type {
  ConversationRecord,
  FinishReason,
  MessageRecord,
  NewConversation,
  NewMessage,
  Role,
  RunRecord,
  RunStatus,
  StoredToolCall,
  Usage,
} from "./store.js";

/*
 * The only place that knows how records map to rows: JSON columns, epoch
 * milliseconds, integer booleans. The store's queries never convert values.
 */

function toJson(value: unknown): string {
  return JSON.stringify(value);
}

// Columns are only ever written by toJson above, so the shape is trusted rather than re-validated.
function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function fromNullableJson<T>(text: string | null): T | null {
  return text === null ? null : fromJson<T>(text);
}

export function toEpochMs(date: Date): number {
  return date.getTime();
}

function fromEpochMs(value: number | string): Date {
  return new Date(Number(value));
}

export function conversationToRow(input: NewConversation): Insertable<ConversationsTable> {
  const time = toEpochMs(input.createTime);
  return {
    id: input.id,
    tenant: input.tenant,
    title: input.title,
    system_prompt: input.systemPrompt,
    model: input.model,
    metadata: toJson(input.metadata),
    create_time: time,
    update_time: time,
    message_count: 0,
  };
}

export function conversationFromRow(row: Selectable<ConversationsTable>): ConversationRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    title: row.title,
    systemPrompt: row.system_prompt,
    model: row.model,
    metadata: fromJson<Record<string, string>>(row.metadata),
    createTime: fromEpochMs(row.create_time),
    updateTime: fromEpochMs(row.update_time),
    messageCount: Number(row.message_count),
  };
}

export function messageToRow(
  conversationId: string,
  message: NewMessage,
  defaultTime: Date,
): Insertable<MessagesTable> {
  return {
    id: message.id,
    conversation_id: conversationId,
    role: message.role,
    content: message.content,
    tool_calls: toJson(message.toolCalls),
    tool_call_id: message.toolCallId,
    tool_name: message.toolName,
    is_error: message.isError ? 1 : 0,
    run_id: message.runId,
    usage: usageToColumn(message.usage),
    finish_reason: message.finishReason,
    model: message.model,
    create_time: toEpochMs(message.createTime ?? defaultTime),
  };
}

export function messageFromRow(row: Selectable<MessagesTable>): MessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role as Role,
    content: row.content,
    toolCalls: fromJson<StoredToolCall[]>(row.tool_calls),
    toolCallId: row.tool_call_id,
    toolName: row.tool_name,
    isError: Number(row.is_error) !== 0,
    runId: row.run_id,
    usage: fromNullableJson<Usage>(row.usage),
    finishReason: row.finish_reason as FinishReason | null,
    model: row.model,
    createTime: fromEpochMs(row.create_time),
  };
}

export function usageToColumn(usage: Usage | null): string | null {
  return usage === null ? null : toJson(usage);
}

export function runFromRow(row: Selectable<RunsTable>): RunRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    tenant: row.tenant,
    status: row.status as RunStatus,
    requestId: row.request_id,
    model: row.model,
    userMessageId: row.user_message_id,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    endReason: row.end_reason,
    usage: fromNullableJson<Usage>(row.usage),
    steps: Number(row.steps),
    timeToFirstTokenMs: row.time_to_first_token_ms === null ? null : Number(row.time_to_first_token_ms),
    startTime: fromEpochMs(row.start_time),
    endTime: row.end_time === null ? null : fromEpochMs(row.end_time),
  };
}
