/**
 * The persistence boundary. Every implementation (SQLite now, PostgreSQL
 * later) satisfies the same contract test suite; callers never see SQL.
 *
 * All reads and writes are scoped by tenant: a row of another tenant is
 * indistinguishable from a missing one.
 */

export type Role = "user" | "assistant" | "tool";

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "cancelled" | "error";

export type RunStatus = "running" | "completed" | "failed" | "cancelled";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  estimated: boolean;
}

export interface StoredToolCall {
  id: string;
  name: string;
  /** The parsed JSON object, or null when the model's arguments were not valid JSON. */
  args: Record<string, unknown> | null;
}

export interface ConversationRecord {
  id: string;
  tenant: string;
  title: string;
  systemPrompt: string;
  model: string;
  metadata: Record<string, string>;
  createTime: Date;
  updateTime: Date;
  messageCount: number;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  role: Role;
  content: string;
  toolCalls: StoredToolCall[];
  toolCallId: string | null;
  toolName: string | null;
  isError: boolean;
  runId: string | null;
  usage: Usage | null;
  finishReason: FinishReason | null;
  model: string | null;
  createTime: Date;
}

export interface RunRecord {
  id: string;
  conversationId: string;
  tenant: string;
  status: RunStatus;
  requestId: string | null;
  model: string;
  userMessageId: string;
  /** gRPC status code name of the failure, e.g. "DEADLINE_EXCEEDED". */
  errorCode: string | null;
  errorMessage: string | null;
  /** Why the run ended, e.g. "completed", "cancelled_by_caller", "caller_deadline". */
  endReason: string | null;
  usage: Usage | null;
  steps: number;
  timeToFirstTokenMs: number | null;
  startTime: Date;
  endTime: Date | null;
}

export interface NewConversation {
  id: string;
  tenant: string;
  title: string;
  systemPrompt: string;
  model: string;
  metadata: Record<string, string>;
  createTime: Date;
}

export type NewMessage = Omit<MessageRecord, "conversationId" | "createTime"> & { createTime?: Date };

export interface StartRunInput {
  tenant: string;
  conversationId: string;
  runId: string;
  requestId: string | null;
  model: string;
  userMessage: NewMessage;
  startTime: Date;
}

export type StartRunResult =
  | { kind: "started"; run: RunRecord }
  | { kind: "not_found" }
  /** A run is already running on the conversation. */
  | { kind: "busy"; activeRunId: string }
  /** A run with this request id exists on the conversation. */
  | { kind: "duplicate"; existingRunId: string };

export interface FinishRunInput {
  tenant: string;
  conversationId: string;
  runId: string;
  status: Exclude<RunStatus, "running">;
  endReason: string;
  errorCode: string | null;
  errorMessage: string | null;
  usage: Usage | null;
  steps: number;
  timeToFirstTokenMs: number | null;
  endTime: Date;
  /** Assistant and tool messages of the run, in order; stored in the same transaction. */
  messages: NewMessage[];
}

/** Keyset position for paging: the last row's id of the previous page (ids are UUIDv7, time-ordered). */
export interface PageRequest {
  pageSize: number;
  afterId: string | null;
}

export interface Page<T> {
  items: T[];
  /** The id to continue after, or null on the last page. */
  nextAfterId: string | null;
}

export interface Store {
  createConversation(input: NewConversation): Promise<ConversationRecord>;
  getConversation(tenant: string, id: string): Promise<ConversationRecord | null>;
  /** Newest first. */
  listConversations(tenant: string, page: PageRequest): Promise<Page<ConversationRecord>>;
  /** Deletes the conversation with its messages and runs. False when missing. Refuses ("busy") while a run is running. */
  deleteConversation(tenant: string, id: string): Promise<"deleted" | "not_found" | "busy">;
  /** Oldest first; null when the conversation does not exist for the tenant. */
  listMessages(tenant: string, conversationId: string, page: PageRequest): Promise<Page<MessageRecord> | null>;
  /** The whole history of a conversation, oldest first (the agent's input). */
  history(tenant: string, conversationId: string): Promise<MessageRecord[]>;
  /** In one transaction: check no run is running, store the user message and a running run. */
  startRun(input: StartRunInput): Promise<StartRunResult>;
  /** In one transaction: store the run's messages and its end state. */
  finishRun(input: FinishRunInput): Promise<void>;
  getRun(tenant: string, runId: string): Promise<RunRecord | null>;
  /** Marks runs left "running" by a previous process as failed; returns how many. */
  failInterruptedRuns(now: Date): Promise<number>;
  /** A cheap round trip, for health and status. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
