/**
 * The offline model's mind: a pure function from a conversation to the next
 * assistant step. Pure so that the offline LangChain model and the
 * OpenAI-compatible simulator answer the same questions the same way.
 */

export interface ScriptToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

export type ScriptMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; toolCalls: ScriptToolCall[] }
  | { role: "tool"; content: string; toolCallId: string; toolName: string };

export type Decision =
  | { kind: "text"; text: string }
  | { kind: "tool_calls"; calls: Array<{ name: string; args: Record<string, unknown> }> };

export const COUNT_LIMIT = 100_000;

const CITY_ZONES: Record<string, string> = {
  tokyo: "Asia/Tokyo",
  london: "Europe/London",
  paris: "Europe/Paris",
  berlin: "Europe/Berlin",
  "new york": "America/New_York",
  "los angeles": "America/Los_Angeles",
  sydney: "Australia/Sydney",
  utc: "UTC",
};

// A run of numbers joined by operators, with optional parentheses and spaces.
const EXPRESSION = /[(\s]*-?\d+(?:\.\d+)?[)\s]*(?:(?:[-+*/^%x×÷]|\*\*)[(\s]*-?\d+(?:\.\d+)?[)\s]*)+/;

export function findExpression(text: string): string | null {
  const m = EXPRESSION.exec(text);
  if (!m) return null;
  return m[0].trim().replace(/\*\*/g, "^").replace(/[x×]/g, "*").replace(/÷/g, "/");
}

export function findTimeZone(text: string): string | null {
  if (!/\b(time|clock)\b/i.test(text)) return null;
  const iana = /\b([A-Z][A-Za-z]+\/[A-Za-z_]+(?:\/[A-Za-z_]+)?)\b/.exec(text);
  if (iana?.[1]) return iana[1];
  const lower = text.toLowerCase();
  for (const [city, zone] of Object.entries(CITY_ZONES)) {
    if (lower.includes(city)) return zone;
  }
  return "UTC";
}

function answerFromTools(results: Array<Extract<ScriptMessage, { role: "tool" }>>, calls: Map<string, ScriptToolCall>): string {
  const sentences = results.map((r) => {
    const call = calls.get(r.toolCallId);
    if (r.content.startsWith("Error")) return `The ${r.toolName} tool failed: ${r.content.replace(/^Error:?\s*/, "")}.`;
    if (r.toolName === "calculator") {
      const expr = typeof call?.args["expression"] === "string" ? call.args["expression"] : "the expression";
      return `${expr} = ${r.content}.`;
    }
    if (r.toolName === "clock") return `The time is ${r.content}.`;
    return `The ${r.toolName} tool returned ${r.content}.`;
  });
  return sentences.join(" ");
}

function recall(history: ScriptMessage[]): string {
  const users = history.filter((m) => m.role === "user");
  const previous = users.length >= 2 ? users[users.length - 2] : undefined;
  const lastTool = [...history].reverse().find((m) => m.role === "tool");
  if (!previous) return "This is the first thing you asked me in this conversation.";
  let text = `Earlier you asked: "${previous.content}".`;
  if (lastTool && lastTool.role === "tool") text += ` The last tool result was ${lastTool.content} from the ${lastTool.toolName} tool.`;
  return text;
}

/**
 * Decides the next step. `tools` are the tools offered in this call; the
 * script never asks for one that was not offered.
 */
export function decide(history: ScriptMessage[], tools: readonly string[]): Decision {
  const last = history[history.length - 1];
  if (!last) return { kind: "text", text: "Hello! Ask me something." };

  if (last.role === "tool") {
    const results: Array<Extract<ScriptMessage, { role: "tool" }>> = [];
    for (let i = history.length - 1; i >= 0; i--) {
      const m = history[i];
      if (m?.role !== "tool") break;
      results.unshift(m);
    }
    const calls = new Map<string, ScriptToolCall>();
    for (const m of history) if (m.role === "assistant") for (const c of m.toolCalls) calls.set(c.id, c);
    return { kind: "text", text: answerFromTools(results, calls) };
  }

  if (last.role !== "user") return { kind: "text", text: "Go on." };
  const text = last.content;

  const count = /\bcount to (\d{1,7})\b/i.exec(text);
  if (count?.[1]) {
    const n = Math.min(Number(count[1]), COUNT_LIMIT);
    return { kind: "text", text: Array.from({ length: n }, (_, i) => String(i + 1)).join(" ") };
  }

  if (/\b(previous|earlier|before|last)\b.*\b(question|message|result|answer|ask)/i.test(text) || /what did i (ask|say)/i.test(text)) {
    return { kind: "text", text: recall(history) };
  }

  const zone = findTimeZone(text);
  if (zone !== null) {
    if (tools.includes("clock")) return { kind: "tool_calls", calls: [{ name: "clock", args: { timezone: zone } }] };
    return { kind: "text", text: "I have no clock tool in this turn, so I cannot tell the time." };
  }

  const expressions: string[] = [];
  for (const part of text.split(/\band\b|[,;]/i)) {
    const e = findExpression(part);
    if (e !== null) expressions.push(e);
  }
  if (expressions.length > 0) {
    if (tools.includes("calculator")) {
      return { kind: "tool_calls", calls: expressions.slice(0, 4).map((expression) => ({ name: "calculator", args: { expression } })) };
    }
    return { kind: "text", text: "I have no calculator tool in this turn, so I will not guess at the arithmetic." };
  }

  const turn = history.filter((m) => m.role === "user").length;
  return {
    kind: "text",
    text:
      `You said: "${text.length > 200 ? text.slice(0, 200) + "…" : text}". ` +
      `I am Parley's offline model (turn ${turn} of this conversation). ` +
      `Ask me some arithmetic such as "what is 17*23?", the time in a city or IANA zone, or what you asked before.`,
  };
}

/** Splits text into stream tokens: words with their trailing whitespace. */
export function tokenize(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}
