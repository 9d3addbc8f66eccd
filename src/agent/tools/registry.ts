/**
 * The one place tools are registered. Each tool runs under its own timeout
 * and under the run's abort signal, so a cancelled turn stops its tools too.
 */
import { tool, type StructuredToolInterface } from "@langchain/core/tools";
import { z } from "zod";
import { calculate, MAX_EXPRESSION_LENGTH } from "./calculator.js";
import { timeIn } from "./clock.js";

export interface ToolDeps {
  timeoutMs: number;
  now: () => Date;
}

export class ToolTimeoutError extends Error {
  override name = "ToolTimeoutError";
}

/** Runs `fn` until it settles, the run aborts, or the tool's time runs out. */
async function bounded<T>(timeoutMs: number, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  combined.throwIfAborted();
  return await new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(timeout.aborted ? new ToolTimeoutError(`timed out after ${timeoutMs} ms`) : combined.reason);
    };
    combined.addEventListener("abort", onAbort, { once: true });
    fn(combined).then(resolve, reject).finally(() => combined.removeEventListener("abort", onAbort));
  });
}

export function builtinTools(deps: ToolDeps): StructuredToolInterface[] {
  const calculator = tool(
    async ({ expression }, config) => bounded(deps.timeoutMs, config?.signal, async () => calculate(expression)),
    {
      name: "calculator",
      description: "Evaluates an arithmetic expression (numbers, + - * / ^ %, parentheses, sqrt, abs, round, min, max, log, sin, cos, pi, e) and returns the result.",
      schema: z.object({ expression: z.string().max(MAX_EXPRESSION_LENGTH).describe("The expression, e.g. 17*23") }),
    },
  );
  const clock = tool(
    async ({ timezone }, config) => bounded(deps.timeoutMs, config?.signal, async () => timeIn(timezone ?? "UTC", deps.now())),
    {
      name: "clock",
      description: "Returns the current date and time in an IANA time zone such as Europe/Paris (default UTC).",
      schema: z.object({ timezone: z.string().max(64).optional().describe("IANA time zone, e.g. Asia/Tokyo") }),
    },
  );
  return [calculator, clock];
}

export const BUILTIN_TOOL_NAMES = ["calculator", "clock"] as const;
