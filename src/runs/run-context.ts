/** The run a call started, on the call's context, for the per-call log line. */
import { createContextKey } from "@connectrpc/connect";

export const runIdKey = createContextKey<string | undefined>(undefined, { description: "run started by this call" });
