/** A message's text, whether its content is a string or content blocks. */
import type { BaseMessage } from "@langchain/core/messages";

export function messageText(m: BaseMessage): string {
  return typeof m.content === "string" ? m.content : m.text;
}
