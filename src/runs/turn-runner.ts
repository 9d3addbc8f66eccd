/**
 * One turn: store the user message and the run, run the agent, stream what
 * happens as RunEvents, store what the caller saw, end with exactly one
 * terminal event (DESIGN §3).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { newId } from "../ids.js";
import type { Logger } from "pino";
import { Code as RpcCode } from "../../gen/google/rpc/code_pb.js";
import { RunEventSchema } from "../../gen/parley/v1/events_pb.js";
import { StreamMessageResponseSchema, type StreamMessageRequest, type StreamMessageResponse } from "../../gen/parley/v1/conversation_service_pb.js";
import type { AgentRunner } from "../agent/agent.js";
import { buildModelInput } from "../agent/history.js";
import type { StepResult, ToolOutcome, TurnHooks } from "../agent/turn-hooks.js";
import type { Principal } from "../api/auth.js";
import { finishReasonToProto, messageToProto, toolCallToProto, usageToProto } from "../api/convert.js";
import { apiError, invalidArgument, notFound } from "../api/errors.js";
import type { ConversationRecord, Store, StoredToolCall } from "../store/store.js";
import type { PolicyRegistry } from "../resilience/registry.js";
import type { ActiveRuns } from "./active-runs.js";
import { runIdKey } from "./run-context.js";
import { followSignals } from "../resilience/signals.js";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Telemetry } from "../telemetry/telemetry.js";
import { traceContextKey } from "../telemetry/rpc.js";
import { OK, statusName } from "../server/call-end.js";
import { classifyEnd, RunAbort, type EndState } from "./end-state.js";
import { EventChannel } from "./event-channel.js";
import { normalizeFinishReason, Transcript } from "./transcript.js";

export interface TurnSettings {
  defaultModel: string;
  allowedModels: string[];
  turnTimeoutMs: number;
  heartbeatMs: number;
  streamBufferBytes: number;
  slowReaderTimeoutMs: number;
  maxHistoryMessages: number;
  /** Put the user's message and the answer in the turn's log line (debugging only). */
  logContent: boolean;
}

export interface TurnRunnerDeps {
  store: Store;
  agent: AgentRunner;
  activeRuns: ActiveRuns;
  policies: PolicyRegistry;
  /** Whether a fallback model can serve when a primary's circuit is open. */
  hasFallback: boolean;
  telemetry: Telemetry;
  settings: TurnSettings;
  logger: Logger;
}

/** What the agent reported, queued for the reader. */
type TurnEvent =
  | { type: "step_start"; messageId: string }
  | { type: "text"; messageId: string; text: string }
  | { type: "step_end"; messageId: string; step: StepResult }
  | { type: "tool_end"; messageId: string; outcome: ToolOutcome }
  | { type: "debug"; kind: string; note: string; attributes: Record<string, string> };

// Rough per-event overhead of an encoded RunEvent, so many tiny events count too.
const EVENT_OVERHEAD_BYTES = 64;

function sizeOf(e: TurnEvent): number {
  switch (e.type) {
    case "text":
      return EVENT_OVERHEAD_BYTES + e.text.length * 2;
    case "tool_end":
      return EVENT_OVERHEAD_BYTES + e.outcome.content.length * 2;
    case "step_end":
      return EVENT_OVERHEAD_BYTES * 4;
    case "step_start":
      return EVENT_OVERHEAD_BYTES;
    case "debug":
      return EVENT_OVERHEAD_BYTES * 2 + e.note.length * 2;
  }
}

function merge(last: TurnEvent, next: TurnEvent): TurnEvent | null {
  if (last.type === "text" && next.type === "text" && last.messageId === next.messageId) {
    return { type: "text", messageId: last.messageId, text: last.text + next.text };
  }
  return null;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Resolves once the producer may go on and the event loop has had a turn.
 *
 * A model's answer often arrives as one burst (many SSE lines in one read):
 * the SDK then parses every token in one run of microtasks, and the reader's
 * write of the first chunk — which reaches the socket only when the event
 * loop gets to HTTP/2's pending writes — waits for the whole burst, and for
 * the step's end. Pausing the producer for one event-loop turn at a step's
 * first text lets that chunk leave first; later deltas merge as usual.
 */
async function untilWritten(pushed: Promise<void> | void): Promise<void> {
  await pushed;
  await new Promise<void>((resolve) => setImmediate(resolve));
}

type EventBody = NonNullable<MessageInitShape<typeof RunEventSchema>["event"]>;

export class TurnRunner {
  private openStreams = 0;

  constructor(private readonly deps: TurnRunnerDeps) {}

  /** StreamMessage calls in progress, refused ones included until they end. */
  get activeStreams(): number {
    return this.openStreams;
  }

  /** Validates what the contract cannot (models, tools) against this server's configuration. */
  private resolveOptions(req: StreamMessageRequest, conv: ConversationRecord): { model: string; tools: string[] } {
    const { settings, agent } = this.deps;
    const model = req.options?.model || conv.model || settings.defaultModel;
    if (!settings.allowedModels.includes(model)) {
      throw invalidArgument([{ field: req.options?.model ? "options.model" : "conversation.model", description: `model "${model}" is not allowed; allowed: ${settings.allowedModels.join(", ")}` }]);
    }
    let tools = agent.toolNames;
    if (req.options?.disableTools) tools = [];
    else if (req.options && req.options.allowedTools.length > 0) {
      req.options.allowedTools.forEach((name, i) => {
        if (!tools.includes(name)) throw invalidArgument([{ field: `options.allowed_tools[${i}]`, description: `unknown tool "${name}"; tools: ${tools.join(", ")}` }]);
      });
      tools = req.options.allowedTools;
    }
    return { model, tools };
  }

  /** Refuses a turn that could not reach its model now, before anything is stored (DESIGN §2.1, third ending). */
  private admit(model: string): void {
    const { policies, hasFallback } = this.deps;
    if (policies.bulkheadFull) {
      throw apiError({ code: Code.ResourceExhausted, message: "too many model calls in progress; retry later", reason: "BULKHEAD_FULL", metadata: { dependency: `model:${model}` } });
    }
    const wait = policies.model(model).breaker.wouldReject();
    if (wait !== null && !hasFallback) {
      throw apiError({ code: Code.Unavailable, message: "the model is unavailable (circuit open); retry later", reason: "CIRCUIT_OPEN", metadata: { dependency: `model:${model}` }, retryDelayMs: wait });
    }
  }

  /**
   * One StreamMessage call. The counter lives in this generator, not in a wrapper around it:
   * every event of the turn would climb through the wrapper's generator too.
   */
  async *stream(req: StreamMessageRequest, ctx: HandlerContext, principal: Principal): AsyncGenerator<StreamMessageResponse> {
    this.openStreams++;
    try {
      const arrived = performance.now();
      const arrivedAt = Date.now();
      const { store, settings, activeRuns, logger } = this.deps;
      const tenant = principal.tenant;
      const conv = await store.getConversation(tenant, req.conversationId);
      if (!conv) throw notFound("conversation");
      const { model, tools } = this.resolveOptions(req, conv);
      this.admit(model);
      const callerTimeout = ctx.timeoutMs();
      const deadlineAt = Math.min(arrivedAt + settings.turnTimeoutMs, callerTimeout === undefined ? Number.POSITIVE_INFINITY : arrivedAt + callerTimeout);
      const debugEvents = req.includeDebug && principal.admin;

      const runId = newId();
      const userMessageId = newId();
      const start = await store.startRun({
        tenant,
        conversationId: conv.id,
        runId,
        requestId: req.requestId || null,
        model,
        startTime: new Date(),
        userMessage: {
          id: userMessageId, role: "user", content: req.content, toolCalls: [], toolCallId: null, toolName: null,
          isError: false, runId, usage: null, finishReason: null, model: null,
        },
      });
      switch (start.kind) {
        case "not_found":
          throw notFound("conversation");
        case "busy":
          throw apiError({ code: Code.Aborted, message: "a run is already active on this conversation", reason: "RUN_ACTIVE", metadata: { run_id: start.activeRunId } });
        case "duplicate":
          throw apiError({ code: Code.AlreadyExists, message: "a run with this request_id already exists on this conversation", reason: "DUPLICATE_REQUEST", metadata: { run_id: start.existingRunId } });
        case "started":
          break;
      }

      ctx.values.set(runIdKey, runId);
      const { telemetry } = this.deps;
      const agentSpan = telemetry.tracer.startSpan(
        "invoke_agent parley",
        { kind: SpanKind.INTERNAL, attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "parley", "gen_ai.conversation.id": conv.id, "gen_ai.request.model": model, "parley.run.id": runId } },
        ctx.values.get(traceContextKey),
      );
      const traceContext = trace.setSpan(ctx.values.get(traceContextKey), agentSpan);
      let seq = 0;
      const event = (body: EventBody, sequenced = true): StreamMessageResponse => {
        telemetry.eventSent(body.case ?? "unknown");
        return create(StreamMessageResponseSchema, {
          event: create(RunEventSchema, { runId, seq: sequenced ? ++seq : 0, time: timestampNow(), event: body }),
        });
      };

      // The run's own controller follows the caller's signal; the turn budget and the run's own
      // reasons (slow reader, shutdown) abort it directly. `turnTimeout` records which ended it.
      const run = followSignals(ctx.signal);
      const runAbort = run.controller;
      const signal = run.signal;
      const turnBudget = new AbortController();
      const turnTimeout = turnBudget.signal;
      const turnTimer = setTimeout(() => {
        const reason = new DOMException("turn budget exhausted", "TimeoutError");
        turnBudget.abort(reason);
        runAbort.abort(reason);
      }, settings.turnTimeoutMs);
      const channel = new EventChannel<TurnEvent>({
        maxBytes: settings.streamBufferBytes,
        slowReaderTimeoutMs: settings.slowReaderTimeoutMs,
        sizeOf,
        merge,
        onSlowReader: () => {
          // The reader may never come back: end and store the run now, with what it was sent.
          runAbort.abort(new RunAbort("slow_reader"));
          channel.discard();
          finish().catch((err: unknown) => logger.error({ err, runId }, "could not store the end of a run"));
        },
      });

      let messageId = "";
      let heldSurrogate = "";
      let stepOutput = false;
      let stepFlushed = false;
      const hooks: TurnHooks = {
        deadlineAt,
        traceContext,
        outputSent: () => stepOutput,
        debug: (kind, note, attributes) => (debugEvents ? channel.push({ type: "debug", kind, note, attributes }) : undefined),
        stepStart: () => {
          messageId = newId();
          stepOutput = false;
          stepFlushed = false;
          return channel.push({ type: "step_start", messageId });
        },
        text: (delta) => {
          stepOutput = true;
          // A surrogate pair split across deltas would encode as U+FFFD: hold the first half back.
          let text = heldSurrogate + delta;
          heldSurrogate = "";
          if (isHighSurrogate(text.charCodeAt(text.length - 1))) {
            heldSurrogate = text.slice(-1);
            text = text.slice(0, -1);
          }
          if (text === "") return;
          const pushed = channel.push({ type: "text", messageId, text });
          if (stepFlushed) return pushed;
          stepFlushed = true;
          return untilWritten(pushed);
        },
        stepEnd: async (step) => {
          if (heldSurrogate !== "") {
            const text = heldSurrogate;
            heldSurrogate = "";
            await channel.push({ type: "text", messageId, text });
          }
          return channel.push({ type: "step_end", messageId, step });
        },
        toolEnd: (outcome) => channel.push({ type: "tool_end", messageId: newId(), outcome }),
      };

      const input = buildModelInput(conv.systemPrompt, await store.history(tenant, conv.id), settings.maxHistoryMessages);
      const agentDone = this.deps.agent
        .run({ messages: input, model: { model, temperature: req.options?.temperature, maxOutputTokens: req.options?.maxOutputTokens }, tools }, hooks, signal)
        .then(
          () => ({ failed: false, error: undefined as unknown }),
          (error: unknown) => ({ failed: true, error }),
        )
        .finally(() => channel.close());

      let settle!: () => void;
      activeRuns.add({
        runId, conversationId: conv.id, tenant, startedAt: Date.now(),
        abort: (reason) => runAbort.abort(reason),
        done: new Promise<void>((resolve) => (settle = resolve)),
      });

      const transcript = new Transcript(runId);
      let firstTokenAt: number | null = null;
      let ending: Promise<EndState> | null = null;

      const persist = async (end: EndState): Promise<void> => {
        await store.finishRun({
          tenant, conversationId: conv.id, runId, status: end.status, endReason: end.endReason,
          errorCode: end.code === null ? null : Code[end.code], errorMessage: end.code === null ? null : end.message,
          usage: transcript.usage, steps: transcript.stepCount,
          timeToFirstTokenMs: firstTokenAt === null ? null : firstTokenAt - arrived,
          endTime: new Date(), messages: transcript.messages(end.cutShort),
        });
        const content = settings.logContent ? { userContent: req.content, answer: transcript.finalStep()?.text ?? "" } : {};
        logger.info(
          { runId, tenant, model: transcript.finalStep()?.model ?? model, endReason: end.endReason, code: statusName(end.code ?? OK), steps: transcript.stepCount, usage: transcript.usage, durationMs: Math.round(performance.now() - arrived), ...content },
          "turn",
        );
      };

      /** Waits for the agent, classifies the end and stores it: once, whoever asks first. */
      const finish = (): Promise<EndState> =>
        (ending ??= (async () => {
          try {
            const outcome = await agentDone;
            const end = classifyEnd({ ...outcome, callerSignal: ctx.signal, turnTimeout, runSignal: runAbort.signal, turnTimeoutMs: settings.turnTimeoutMs });
            if (outcome.failed && end.endReason === "internal_error") logger.error({ err: outcome.error, runId }, "turn failed");
            await persist(end);
            telemetry.runEnded(end.endReason, model, (performance.now() - arrived) / 1000);
            const usage = transcript.usage;
            if (usage) agentSpan.setAttributes({ "gen_ai.usage.input_tokens": usage.inputTokens, "gen_ai.usage.output_tokens": usage.outputTokens });
            agentSpan.setAttribute("parley.end_reason", end.endReason);
            if (end.code !== null) agentSpan.setStatus({ code: SpanStatusCode.ERROR, message: end.reason });
            return end;
          } finally {
            clearTimeout(turnTimer);
            run.dispose();
            agentSpan.end();
            activeRuns.delete(runId);
            settle();
          }
        })());

      const translate = (e: TurnEvent): StreamMessageResponse[] => {
        switch (e.type) {
          case "step_start":
            transcript.startStep(e.messageId, model);
            return [];
          case "text":
            transcript.appendText(e.text);
            firstTokenAt ??= performance.now();
            return [event({ case: "chunk", value: { messageId: e.messageId, text: e.text } })];
          case "step_end": {
            const out: StreamMessageResponse[] = [];
            // A provider that does not stream still produced text: send it whole.
            if (transcript.currentText() === "" && e.step.text !== "") {
              transcript.appendText(e.step.text);
              firstTokenAt ??= performance.now();
              out.push(event({ case: "chunk", value: { messageId: e.messageId, text: e.step.text } }));
            }
            const calls: StoredToolCall[] = e.step.toolCalls.map((c) => ({ id: c.id || `call_${newId()}`, name: c.name, args: c.args }));
            transcript.endStep(calls, e.step.usage, normalizeFinishReason(e.step.finishReason), e.step.model || model);
            for (const [i, call] of calls.entries()) {
              out.push(event({ case: "toolCall", value: toolCallToProto(call) }));
              const parsed = e.step.toolCalls[i];
              if (parsed && parsed.args === null) {
                // The tool never runs on arguments that are not JSON; the caller and the history get an error result.
                const content = `Error: the arguments for ${call.name} are not valid JSON (${parsed.error ?? "unparseable"})`;
                const resultId = newId();
                transcript.addToolResult({ messageId: resultId, callId: call.id, name: call.name, content, isError: true });
                out.push(event({ case: "toolResult", value: { callId: call.id, name: call.name, content, isError: true, messageId: resultId } }));
              }
            }
            return out;
          }
          case "debug":
            return [event({ case: "debug", value: { kind: e.kind, note: e.note, attributes: e.attributes } })];
          case "tool_end": {
            const o = e.outcome;
            transcript.addToolResult({ messageId: e.messageId, callId: o.callId, name: o.name, content: o.content, isError: o.isError });
            return [event({ case: "toolResult", value: { callId: o.callId, name: o.name, content: o.content, isError: o.isError, duration: durationFromMs(Math.round(o.durationMs)), messageId: e.messageId } })];
          }
        }
      };

      try {
        yield event({ case: "started", value: { conversationId: conv.id, userMessageId, model } });
        for (;;) {
          const item = await channel.next(settings.heartbeatMs);
          if (item.kind === "closed") break;
          if (item.kind === "idle") {
            yield event({ case: "heartbeat", value: {} }, false);
            continue;
          }
          for (const out of translate(item.value)) yield out;
        }
        const end = await finish();
        if (end.code === null) {
          const final = transcript.finalStep();
          const finalMessage = transcript.messages(null).filter((m) => m.role === "assistant").at(-1);
          yield event({
            case: "complete",
            value: {
              message: finalMessage ? messageToProto({ ...finalMessage, conversationId: conv.id, createTime: new Date() }) : undefined,
              usage: usageToProto(transcript.usage),
              finishReason: finishReasonToProto(final?.finishReason ?? "stop"),
              timeToFirstToken: firstTokenAt === null ? undefined : durationFromMs(Math.round(firstTokenAt - arrived)),
              duration: durationFromMs(Math.round(performance.now() - arrived)),
              steps: transcript.stepCount,
            },
          });
          return;
        }
        yield event({
          case: "error",
          value: {
            code: end.code as number as RpcCode,
            message: end.message,
            retryable: end.retryable,
            retryDelay: end.retryDelayMs === undefined ? undefined : durationFromMs(end.retryDelayMs),
            reason: end.reason,
          },
        });
        throw apiError({ code: end.code, message: end.message, reason: end.reason, retryDelayMs: end.retryDelayMs, metadata: end.metadata });
      } finally {
        if (!ending) {
          // The reader is gone (cancelled, deadline, or the stream failed): stop the agent and store what it was sent.
          channel.discard();
          runAbort.abort(new RunAbort("reader_gone"));
        }
        await finish().catch((err: unknown) => logger.error({ err, runId }, "could not store the end of a run"));
      }
    } finally {
      this.openStreams--;
    }
  }
}
