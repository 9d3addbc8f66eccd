/**
 * What the agent reports to the turn while it runs. The agent itself knows
 * nothing about gRPC or storage; the turn runner implements these hooks.
 * Every hook may return a promise: awaiting it is how a slow reader
 * slows the model down instead of piling events up in memory.
 */
import type { AIMessage } from "@langchain/core/messages";
import type { Context } from "@opentelemetry/api";
import type { Usage } from "../store/store.js";

export interface ParsedToolCall {
  id: string;
  name: string;
  /** Null when the model's arguments were not a valid JSON object. */
  args: Record<string, unknown> | null;
  /** Why args is null. */
  error?: string;
}

export interface StepResult {
  message: AIMessage;
  text: string;
  toolCalls: ParsedToolCall[];
  usage: Usage;
  finishReason: string;
  /** The model that served the step (the fallback's name when it did). */
  model: string;
}

export interface ToolOutcome {
  callId: string;
  name: string;
  content: string;
  isError: boolean;
  durationMs: number;
}

export interface TurnHooks {
  /** Epoch ms by which the turn must end (the caller's deadline or the turn budget). */
  readonly deadlineAt: number;
  /** The run's trace context: model and tool spans nest in it. */
  readonly traceContext: Context;
  stepStart(): void | Promise<void>;
  text(delta: string): void | Promise<void>;
  /** Whether any text of the current step reached the caller: after that, no retry. */
  outputSent(): boolean;
  stepEnd(step: StepResult): void | Promise<void>;
  toolEnd(outcome: ToolOutcome): void | Promise<void>;
  /** What the resilience layer did (shown to admin callers who asked for debug events). */
  debug(kind: string, note: string, attributes: Record<string, string>): void | Promise<void>;
}
