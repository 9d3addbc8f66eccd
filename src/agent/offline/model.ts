/**
 * The `offline` provider: a deterministic LangChain chat model that streams
 * the script's answer token by token at a set pace and asks for the built-in
 * tools, so a fresh checkout runs real agent turns with no network.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BaseChatModel, type BaseChatModelParams, type BaseChatModelCallOptions, type BindToolsInput } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import type { Runnable } from "@langchain/core/runnables";
import { messageText } from "../message-text.js";
import { withAttemptSignal } from "../../resilience/attempt-scope.js";
import { decide, tokenize, type ScriptMessage } from "./script.js";

/** Counters a test or operator can read to see what the model really did. */
export class OfflineModelStats {
  calls = 0;
  tokensProduced = 0;
  /** The messages of the most recent call, as the model saw them. */
  lastInput: ScriptMessage[] = [];
}

export interface OfflineModelFields extends BaseChatModelParams {
  model: string;
  tokenDelayMs: number;
  stats: OfflineModelStats;
  toolNames?: string[];
}


/** LangChain messages to the script's plain shape. */
export function toScriptMessages(messages: BaseMessage[]): ScriptMessage[] {
  return messages.map((m): ScriptMessage => {
    switch (m.type) {
      case "system":
        return { role: "system", content: messageText(m) };
      case "ai": {
        const ai = m as AIMessage;
        return {
          role: "assistant",
          content: messageText(m),
          toolCalls: (ai.tool_calls ?? []).map((c) => ({ id: c.id ?? "", name: c.name, args: c.args })),
        };
      }
      case "tool": {
        const t = m as BaseMessage & { tool_call_id: string; name?: string };
        return { role: "tool", content: messageText(m), toolCallId: t.tool_call_id, toolName: t.name ?? "" };
      }
      default:
        return { role: "user", content: messageText(m) };
    }
  });
}

let callCounter = 0;

export class OfflineChatModel extends BaseChatModel<BaseChatModelCallOptions, AIMessageChunk> {
  readonly model: string;
  readonly tokenDelayMs: number;
  readonly stats: OfflineModelStats;
  readonly toolNames: string[];
  private bound: { key: string; model: OfflineChatModel } | undefined;

  constructor(fields: OfflineModelFields) {
    super(fields);
    this.model = fields.model;
    this.tokenDelayMs = fields.tokenDelayMs;
    this.stats = fields.stats;
    this.toolNames = fields.toolNames ?? [];
  }

  _llmType(): string {
    return "parley-offline";
  }

  override bindTools(tools: BindToolsInput[]): Runnable<BaseMessage[], AIMessageChunk, BaseChatModelCallOptions> {
    const names = tools.map((t) => {
      const named = t as { name?: unknown; function?: { name?: unknown } };
      return String(named.name ?? named.function?.name ?? "");
    });
    // The agent binds its tools again on every model call, and a chat model is not small (its own
    // AsyncCaller and queue): an open turn would hold one each. A compiled agent offers one tool set.
    const key = names.join("\0");
    if (this.bound?.key !== key) {
      this.bound = { key, model: new OfflineChatModel({ model: this.model, tokenDelayMs: this.tokenDelayMs, stats: this.stats, toolNames: names }) };
    }
    return this.bound.model;
  }

  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let final: ChatGenerationChunk | undefined;
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) {
      final = final ? final.concat(chunk) : chunk;
    }
    const message = final?.message ?? new AIMessageChunk("");
    return { generations: [{ text: final?.text ?? "", message: new AIMessage({ ...message }) }] };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const signal = withAttemptSignal(options.signal);
    const script = toScriptMessages(messages);
    this.stats.calls++;
    this.stats.lastInput = script;
    const decision = decide(script, this.toolNames);
    const inputTokens = script.reduce((n, m) => n + tokenize(m.content).length, 0);

    if (decision.kind === "tool_calls") {
      const ids = decision.calls.map(() => `call_offline_${++callCounter}`);
      for (const [index, call] of decision.calls.entries()) {
        // Tool-call pieces are paced like text: a real model takes time to write them too.
        if (this.tokenDelayMs > 0) await sleep(this.tokenDelayMs, undefined, { signal });
        signal?.throwIfAborted();
        const chunk = new ChatGenerationChunk({
          text: "",
          message: new AIMessageChunk({
            content: "",
            tool_call_chunks: [{ type: "tool_call_chunk", index, id: ids[index], name: call.name, args: JSON.stringify(call.args) }],
          }),
        });
        this.stats.tokensProduced++;
        await runManager?.handleLLMNewToken("", { prompt: 0, completion: 0 }, undefined, undefined, undefined, { chunk });
        yield chunk;
      }
      yield this.finalChunk("tool_calls", inputTokens, decision.calls.length);
      return;
    }

    const tokens = tokenize(decision.text);
    for (const token of tokens) {
      if (this.tokenDelayMs > 0) await sleep(this.tokenDelayMs, undefined, { signal });
      signal?.throwIfAborted();
      const chunk = new ChatGenerationChunk({ text: token, message: new AIMessageChunk({ content: token }) });
      this.stats.tokensProduced++;
      await runManager?.handleLLMNewToken(token, { prompt: 0, completion: 0 }, undefined, undefined, undefined, { chunk });
      yield chunk;
    }
    yield this.finalChunk("stop", inputTokens, tokens.length);
  }

  private finalChunk(finishReason: string, inputTokens: number, outputTokens: number): ChatGenerationChunk {
    return new ChatGenerationChunk({
      text: "",
      message: new AIMessageChunk({
        content: "",
        response_metadata: { finish_reason: finishReason, model_name: this.model },
        usage_metadata: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
      }),
    });
  }
}
