/** One log line per call: method, protocol, code, duration, tenant, run id. Never content or keys. */
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { principalKey } from "../api/auth.js";
import { runIdKey } from "../runs/run-context.js";
import { OK, statusName, type CallObserver } from "./call-end.js";

export function callLog(logger: Logger): CallObserver {
  return (info) => (code, durationS, error) => {
    const principal = info.contextValues.get(principalKey);
    const runId = info.contextValues.get(runIdKey);
    const fields = {
      method: info.method,
      protocol: info.system,
      code: statusName(code),
      durationMs: Math.round(durationS * 10_000) / 10,
      ...(principal ? { tenant: principal.tenant } : {}),
      ...(runId ? { runId } : {}),
      ...(error && code !== OK ? { error: error.rawMessage } : {}),
    };
    if (code === Code.Internal || code === Code.Unknown) logger.error(fields, "call");
    else logger.info(fields, "call");
  };
}
