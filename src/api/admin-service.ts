/** AdminService: the detailed status for operators (probes use grpc.health.v1). */
import { create } from "@bufbuild/protobuf";
import { DurationSchema, durationFromMs, timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AdminService,
  CircuitState,
  CircuitStateChangeSchema,
  DependencyStatusSchema,
  GetStatusResponseSchema,
} from "../../gen/parley/v1/admin_service_pb.js";
import type { BreakerState } from "../resilience/breaker.js";
import type { PolicyRegistry } from "../resilience/registry.js";
import type { ActiveRuns } from "../runs/active-runs.js";
import type { Store } from "../store/store.js";
import { principalOf } from "./auth.js";
import { permissionDenied } from "./errors.js";

export interface AdminServiceDeps {
  version: string;
  startedAt: number;
  store: Store;
  policies: PolicyRegistry;
  activeRuns: ActiveRuns;
  activeStreams: () => number;
  /** Effective settings, already free of secrets. */
  configSummary: Record<string, string>;
}

const STATES: Record<BreakerState, CircuitState> = {
  closed: CircuitState.CLOSED,
  open: CircuitState.OPEN,
  half_open: CircuitState.HALF_OPEN,
};

const ts = (d: Date | null) => (d ? timestampFromDate(d) : undefined);

/** durationFromMs wants whole milliseconds; a store round trip is a fraction of one. */
function preciseDuration(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) });
}

export function adminService(deps: AdminServiceDeps): ServiceImpl<typeof AdminService> {
  return {
    async getStatus(_req, ctx) {
      if (!principalOf(ctx).admin) throw permissionDenied("GetStatus needs an admin API key");
      const pingStart = performance.now();
      await deps.store.ping();
      const storeLatencyMs = performance.now() - pingStart;
      return create(GetStatusResponseSchema, {
        version: deps.version,
        uptime: durationFromMs(Date.now() - deps.startedAt),
        storeLatency: preciseDuration(storeLatencyMs),
        activeRuns: deps.activeRuns.size,
        activeStreams: deps.activeStreams(),
        dependencies: deps.policies.list().map((d) =>
          create(DependencyStatusSchema, {
            name: d.name,
            kind: d.kind,
            state: STATES[d.state],
            totalCalls: BigInt(d.totalCalls),
            successfulCalls: BigInt(d.successfulCalls),
            failedCalls: BigInt(d.failedCalls),
            rejectedCalls: BigInt(d.rejectedCalls),
            consecutiveFailures: d.consecutiveFailures,
            consecutiveSuccesses: d.consecutiveSuccesses,
            lastFailureTime: ts(d.lastFailureAt),
            lastSuccessTime: ts(d.lastSuccessAt),
            retryAfter: d.retryAfterMs > 0 ? durationFromMs(d.retryAfterMs) : undefined,
            recentChanges: d.recentChanges.map((c) =>
              create(CircuitStateChangeSchema, { from: STATES[c.from], to: STATES[c.to], time: timestampFromDate(c.at), reason: c.reason }),
            ),
          }),
        ),
        bulkheadActive: deps.policies.bulkheadActive,
        bulkheadQueued: deps.policies.bulkheadQueued,
        bulkheadRejected: BigInt(deps.policies.rejectedByBulkhead),
        config: deps.configSummary,
      });
    },
  };
}
