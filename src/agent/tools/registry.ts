/**
 * The built-in tools, registered in one place. Their time limit, like every
 * tool's, is applied by the turn middleware under the tool's policy.
 */
import { tool, type StructuredToolInterface } from "@langchain/core/tools";
import { z } from "zod";
import { calculate, MAX_EXPRESSION_LENGTH } from "./calculator.js";
import { timeIn } from "./clock.js";

export interface ToolDeps {
  now: () => Date;
}

export function builtinTools(deps: ToolDeps): StructuredToolInterface[] {
  const calculator = tool(async ({ expression }) => calculate(expression), {
    name: "calculator",
    description: "Evaluates an arithmetic expression (numbers, + - * / ^ %, parentheses, sqrt, abs, round, min, max, log, sin, cos, pi, e) and returns the result.",
    schema: z.object({ expression: z.string().max(MAX_EXPRESSION_LENGTH).describe("The expression, e.g. 17*23") }),
  });
  const clock = tool(async ({ timezone }) => timeIn(timezone ?? "UTC", deps.now()), {
    name: "clock",
    description: "Returns the current date and time in an IANA time zone such as Europe/Paris (default UTC).",
    schema: z.object({ timezone: z.string().max(64).optional().describe("IANA time zone, e.g. Asia/Tokyo") }),
  });
  return [calculator, clock];
}
