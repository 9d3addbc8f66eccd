/**
 * What the caller was sent during a run, kept as the messages to store.
 * Built only from delivered events, so a cancelled run stores exactly what
 * its caller saw; a tool call that never got a result is closed with an
 * error result, so the history stays valid for strict providers.
 */
import { newId } from "../ids.js";
import type { FinishReason, NewMessage, StoredToolCall, Usage } from "../store/store.js";
import { addUsage } from "../agent/usage.js";

interface Step {
  messageId: string;
  text: string;
  toolCalls: StoredToolCall[];
  usage: Usage | null;
  finishReason: FinishReason | null;
  model: string;
}

interface ToolResultEntry {
  messageId: string;
  callId: string;
  name: string;
  content: string;
  isError: boolean;
}

const FINISH_REASONS: Record<string, FinishReason> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool_calls",
  function_call: "tool_calls",
  content_filter: "content_filter",
};

export function normalizeFinishReason(reason: string): FinishReason {
  return FINISH_REASONS[reason] ?? "stop";
}

export class Transcript {
  private readonly steps: Step[] = [];
  private readonly results = new Map<string, ToolResultEntry>();
  usage: Usage | null = null;

  constructor(private readonly runId: string) {}

  get stepCount(): number {
    return this.steps.length;
  }

  startStep(messageId: string, model: string): void {
    this.steps.push({ messageId, text: "", toolCalls: [], usage: null, finishReason: null, model });
  }

  private current(): Step | undefined {
    return this.steps[this.steps.length - 1];
  }

  /** Text of the current step so far. */
  currentText(): string {
    return this.current()?.text ?? "";
  }

  appendText(text: string): void {
    const step = this.current();
    if (step) step.text += text;
  }

  endStep(toolCalls: StoredToolCall[], usage: Usage, finishReason: FinishReason, model: string): void {
    const step = this.current();
    if (!step) return;
    step.toolCalls = toolCalls;
    step.usage = usage;
    step.finishReason = finishReason;
    if (model) step.model = model;
    this.usage = addUsage(this.usage, usage);
  }

  addToolResult(entry: ToolResultEntry): void {
    this.results.set(entry.callId, entry);
  }

  /** The last assistant step, the run's answer. */
  finalStep(): Step | undefined {
    return this.current();
  }

  /** The messages to store, with `endReason` on steps cut short. */
  messages(cutShort: FinishReason | null): NewMessage[] {
    const out: NewMessage[] = [];
    for (const [i, step] of this.steps.entries()) {
      const isLast = i === this.steps.length - 1;
      const finish = step.finishReason ?? cutShort ?? "stop";
      if (step.text === "" && step.toolCalls.length === 0 && step.finishReason === null) continue;
      out.push({
        id: step.messageId,
        role: "assistant",
        content: step.text,
        toolCalls: step.toolCalls,
        toolCallId: null,
        toolName: null,
        isError: false,
        runId: this.runId,
        usage: step.usage,
        finishReason: isLast && cutShort && step.finishReason !== "tool_calls" ? cutShort : finish,
        model: step.model,
      });
      for (const call of step.toolCalls) {
        const result = this.results.get(call.id);
        out.push({
          id: result?.messageId ?? newId(),
          role: "tool",
          content: result?.content ?? "Error: the run ended before the tool returned.",
          toolCalls: [],
          toolCallId: call.id,
          toolName: call.name,
          isError: result?.isError ?? true,
          runId: this.runId,
          usage: null,
          finishReason: null,
          model: null,
        });
      }
    }
    return out;
  }
}
