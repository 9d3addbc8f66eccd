/**
 * Opaque page tokens (AIP-158): the keyset position plus the scope the token
 * was issued for, so a token from another list or conversation is refused
 * instead of silently paging through the wrong thing.
 */
import { validate as isUuid } from "uuid";
import { invalidArgument } from "./errors.js";

interface TokenBody {
  v: 1;
  /** The scope: list name and parent. */
  s: string;
  /** Continue after this id. */
  a: string;
}

export function encodePageToken(scope: string, afterId: string | null): string {
  if (afterId === null) return "";
  const body: TokenBody = { v: 1, s: scope, a: afterId };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

export function decodePageToken(scope: string, token: string): string | null {
  if (token === "") return null;
  const bad = () => invalidArgument([{ field: "page_token", description: "is not a page token from this list; start again without page_token" }]);
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<TokenBody>;
  } catch {
    throw bad();
  }
  if (typeof body !== "object" || body === null || body.v !== 1 || body.s !== scope || typeof body.a !== "string" || !isUuid(body.a)) throw bad();
  return body.a;
}

export function pageSize(requested: number, fallback: number): number {
  return requested === 0 ? fallback : requested;
}
