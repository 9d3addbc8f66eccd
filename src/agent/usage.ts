/**
 * Token usage: taken from the provider when it reports it, otherwise counted
 * with a real tokenizer (cl100k) and marked estimated — never reported as 0.
 */
import { Tiktoken } from "js-tiktoken/lite";
import type { AIMessage, BaseMessage } from "@langchain/core/messages";
import type { Usage } from "../store/store.js";

let encoder: Tiktoken | undefined;

async function getEncoder(): Promise<Tiktoken> {
  if (!encoder) {
    // Loaded on first use: the ranks are ~1 MB and most providers report usage.
    const { default: ranks } = await import("js-tiktoken/ranks/cl100k_base");
    encoder = new Tiktoken(ranks);
  }
  return encoder;
}

function textOf(m: BaseMessage): string {
  const calls = "tool_calls" in m && Array.isArray(m.tool_calls) ? JSON.stringify(m.tool_calls) : "";
  return (typeof m.content === "string" ? m.content : m.text) + calls;
}

// Per-message framing overhead of chat formats (role markers, separators).
const TOKENS_PER_MESSAGE = 4;

export async function estimateUsage(input: BaseMessage[], output: AIMessage): Promise<Usage> {
  const enc = await getEncoder();
  const inputTokens = input.reduce((n, m) => n + TOKENS_PER_MESSAGE + enc.encode(textOf(m), "all").length, 0);
  const outputTokens = Math.max(1, enc.encode(textOf(output), "all").length);
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens, estimated: true };
}

export function reportedUsage(message: AIMessage): Usage | null {
  const u = message.usage_metadata;
  if (!u || (u.input_tokens === 0 && u.output_tokens === 0)) return null;
  return {
    inputTokens: u.input_tokens,
    outputTokens: u.output_tokens,
    totalTokens: u.total_tokens || u.input_tokens + u.output_tokens,
    estimated: false,
  };
}

export function addUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a) return b;
  if (!b) return a;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    estimated: a.estimated || b.estimated,
  };
}
