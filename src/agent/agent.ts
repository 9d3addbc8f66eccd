/**
 * Runs one turn of the LangChain agent (`createAgent` with our tools and the
 * turn middleware) and reports it through TurnHooks as it happens.
 *
 * Tokens are taken by a callback handler rather than `streamMode: "messages"`:
 * it halves the per-token cost (see LIBRARIES.md) and, because the handler
 * is awaited, a slow reader pauses the model's stream.
 */
import { createAgent } from "langchain";
import { BaseCallbackHandler, type NewTokenIndices } from "@langchain/core/callbacks/base";
import type { BaseMessage } from "@langchain/core/messages";
import type { ChatGeneration, LLMResult } from "@langchain/core/outputs";
import type { StructuredToolInterface } from "@langchain/core/tools";
import type { ModelFactory, ModelSpec } from "./models.js";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { currentAttempt } from "../resilience/attempt-scope.js";
import type { PolicyRegistry } from "../resilience/registry.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { createTurnMiddleware, HOOKS_KEY } from "./turn-middleware.js";
import type { TurnHooks } from "./turn-hooks.js";

class TokenHandler extends BaseCallbackHandler {
  name = "parley-tokens";
  lc_prefer_streaming = true;

  constructor(private readonly hooks: TurnHooks) {
    super({ _awaitHandler: true });
  }

  override handleLLMNewToken(token: string, _idx: NewTokenIndices): void | Promise<void> {
    // Tool-call pieces arrive as empty tokens: still proof the model is alive.
    currentAttempt()?.activity();
    if (token !== "") return this.hooks.text(token);
  }

  override handleLLMEnd(output: LLMResult): void {
    // Because this handler prefers streaming, LangChain builds the step's message from the streamed
    // chunks and leaves the provider's finish_reason in generationInfo only (its non-streaming path
    // copies it into response_metadata). Copy it over, so "length" or "content_filter" is not lost.
    for (const generation of output.generations.flat() as Array<Partial<ChatGeneration>>) {
      const reason: unknown = generation.generationInfo?.["finish_reason"];
      const message = generation.message as { response_metadata?: Record<string, unknown> } | undefined;
      if (typeof reason === "string" && message && message.response_metadata?.["finish_reason"] === undefined) {
        message.response_metadata = { ...message.response_metadata, finish_reason: reason };
      }
    }
  }
}

export interface TurnInput {
  messages: BaseMessage[];
  model: ModelSpec;
  /** Tool names offered to the model this turn. */
  tools: string[];
}

type CompiledAgent = ReturnType<typeof createAgent>;

const MAX_CACHED_AGENTS = 64;

export class AgentRunner {
  private readonly agents = new Map<string, CompiledAgent>();
  private readonly toolsByName: Map<string, StructuredToolInterface>;

  constructor(
    private readonly models: ModelFactory,
    tools: StructuredToolInterface[],
    private readonly policies: PolicyRegistry,
    private readonly telemetry: Telemetry,
    private readonly fallback?: { name: string; model: BaseChatModel },
    private readonly maxSteps = 16,
  ) {
    this.toolsByName = new Map(tools.map((t) => [t.name, t]));
  }

  get toolNames(): string[] {
    return [...this.toolsByName.keys()];
  }

  /** Resolves when the agent finished; rejects with the agent's error or the abort. */
  async run(input: TurnInput, hooks: TurnHooks, signal: AbortSignal): Promise<void> {
    const agent = this.agentFor(input.model, input.tools);
    await agent.invoke(
      { messages: input.messages },
      {
        signal,
        callbacks: [new TokenHandler(hooks)],
        configurable: { [HOOKS_KEY]: hooks },
        // Each step is a model node and a tools node; leave room for the final answer.
        recursionLimit: this.maxSteps * 2 + 1,
      },
    );
  }

  private agentFor(spec: ModelSpec, tools: string[]): CompiledAgent {
    const key = JSON.stringify([spec.model, spec.temperature, spec.maxOutputTokens, tools]);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = createAgent({
        model: this.models.create(spec),
        tools: tools.map((name) => this.toolsByName.get(name)).filter((t): t is StructuredToolInterface => t !== undefined),
        middleware: [
          createTurnMiddleware({
            policies: this.policies,
            telemetry: this.telemetry,
            provider: this.models.provider === "offline" ? "parley" : "openai",
            modelName: spec.model,
            fallback: this.fallback,
          }),
        ],
      });
      if (this.agents.size >= MAX_CACHED_AGENTS) {
        const oldest = this.agents.keys().next().value;
        if (oldest !== undefined) this.agents.delete(oldest);
      }
      this.agents.set(key, agent);
    }
    return agent;
  }
}
