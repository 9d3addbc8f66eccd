/** Store records to contract messages. */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ConversationSchema,
  FinishReason,
  MessageSchema,
  Role,
  TokenUsageSchema,
  ToolCallSchema,
  type Conversation,
  type Message,
  type TokenUsage,
  type ToolCall,
} from "../../gen/parley/v1/conversation_pb.js";
import type { ConversationRecord, FinishReason as StoredFinishReason, MessageRecord, Role as StoredRole, StoredToolCall, Usage } from "../store/store.js";

const ROLES: Record<StoredRole, Role> = { user: Role.USER, assistant: Role.ASSISTANT, tool: Role.TOOL };

const FINISH: Record<StoredFinishReason, FinishReason> = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  tool_calls: FinishReason.TOOL_CALLS,
  content_filter: FinishReason.CONTENT_FILTER,
  cancelled: FinishReason.CANCELLED,
  error: FinishReason.ERROR,
};

export const finishReasonToProto = (r: StoredFinishReason | null): FinishReason => (r ? FINISH[r] : FinishReason.UNSPECIFIED);

export function conversationToProto(c: ConversationRecord): Conversation {
  return create(ConversationSchema, {
    id: c.id,
    title: c.title,
    systemPrompt: c.systemPrompt,
    model: c.model,
    metadata: c.metadata,
    createTime: timestampFromDate(c.createTime),
    updateTime: timestampFromDate(c.updateTime),
    messageCount: c.messageCount,
  });
}

export function usageToProto(u: Usage | null): TokenUsage | undefined {
  if (!u) return undefined;
  return create(TokenUsageSchema, { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.totalTokens, estimated: u.estimated });
}

export function toolCallToProto(c: StoredToolCall): ToolCall {
  return create(ToolCallSchema, { id: c.id, name: c.name, arguments: (c.args ?? undefined) as JsonObject | undefined });
}

export function messageToProto(m: MessageRecord): Message {
  return create(MessageSchema, {
    id: m.id,
    conversationId: m.conversationId,
    role: ROLES[m.role],
    content: m.content,
    toolCalls: m.toolCalls.map(toolCallToProto),
    toolCallId: m.toolCallId ?? "",
    toolName: m.toolName ?? "",
    isError: m.isError,
    runId: m.runId ?? "",
    usage: usageToProto(m.usage),
    finishReason: finishReasonToProto(m.finishReason),
    model: m.model ?? "",
    createTime: timestampFromDate(m.createTime),
  });
}
