/**
 * API keys to tenants. Keys are compared by their SHA-256 digest in a map,
 * so lookup time does not depend on how much of a guess matched, and the
 * raw keys are not kept in memory beyond start-up.
 */
import { createHash } from "node:crypto";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ApiKeyEntry } from "../config.js";
import { unauthenticated } from "./errors.js";

export interface Principal {
  tenant: string;
  admin: boolean;
}

export const LOCAL_PRINCIPAL: Principal = { tenant: "local", admin: true };

export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated caller" });

const digest = (key: string): string => createHash("sha256").update(key).digest("hex");

export class Authenticator {
  private readonly byDigest = new Map<string, Principal>();

  /** `keys` empty means every caller is the local tenant (loopback or PARLEY_AUTH=none). */
  constructor(keys: ApiKeyEntry[], private readonly mode: "keys" | "none") {
    for (const k of keys) this.byDigest.set(digest(k.key), { tenant: k.tenant, admin: k.admin });
  }

  get open(): boolean {
    return this.mode === "none" || this.byDigest.size === 0;
  }

  authenticate(headers: Headers): Principal {
    if (this.open) return LOCAL_PRINCIPAL;
    const header = headers.get("authorization");
    if (header === null) throw unauthenticated("missing credentials: send authorization: Bearer <api key>");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw unauthenticated("malformed authorization header: expected Bearer <api key>");
    const principal = this.byDigest.get(digest(match[1]));
    if (!principal) throw unauthenticated("invalid API key");
    return principal;
  }
}

export function principalOf(ctx: HandlerContext): Principal {
  const p = ctx.values.get(principalKey);
  // The guard sets it for every guarded method; reaching here without it is a wiring bug.
  if (!p) throw new Error("no principal on the context: the method is not guarded");
  return p;
}
