/**
 * Chat model construction per provider. A model is built per distinct
 * (name, temperature, max tokens) and cached by the agent factory.
 */
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { OfflineChatModel, OfflineModelStats } from "./offline/model.js";
import { ReusingChatOpenAI } from "./openai/chat-model.js";
import { normalizingFetch } from "./openai/normalizing-fetch.js";

export interface ModelSpec {
  model: string;
  temperature?: number | undefined;
  maxOutputTokens?: number | undefined;
}

export interface ModelFactory {
  readonly provider: "offline" | "openai";
  create(spec: ModelSpec): BaseChatModel;
}

export function offlineModels(opts: { tokenDelayMs: number; stats?: OfflineModelStats }): ModelFactory & { stats: OfflineModelStats } {
  const stats = opts.stats ?? new OfflineModelStats();
  return {
    provider: "offline",
    stats,
    create: (spec) => new OfflineChatModel({ model: spec.model, tokenDelayMs: opts.tokenDelayMs, stats }),
  };
}

export function openaiModels(opts: { apiKey: string | undefined; baseUrl: string | undefined }): ModelFactory {
  return {
    provider: "openai",
    create: (spec) =>
      new ReusingChatOpenAI({
        model: spec.model,
        // Local OpenAI-compatible servers accept any key; the SDK insists on one.
        apiKey: opts.apiKey ?? "not-needed",
        configuration: { baseURL: opts.baseUrl, fetch: normalizingFetch() },
        streaming: true,
        streamUsage: true,
        // Retries belong to the resilience layer, which knows whether a token already reached the caller.
        maxRetries: 0,
        ...(spec.temperature !== undefined ? { temperature: spec.temperature } : {}),
        ...(spec.maxOutputTokens !== undefined ? { maxTokens: spec.maxOutputTokens } : {}),
      }),
  };
}
