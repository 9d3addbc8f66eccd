// grpc.health.v1 as the standard defines it (Kubernetes gRPC probes,
// grpc_health_probe, load balancers), over a registry the rest of the app
// sets statuses in.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

type Listener = (status: ServingStatus) => void;

/**
 * Serving status per service name; `""` is the whole server. Starts with `""`
 * NOT_SERVING (unless `initial` says otherwise): the app sets SERVING once it
 * can serve (store open, migrations run).
 */
export class HealthRegistry {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #ended = new AbortController();
  #shutDown = false;

  constructor(initial: Readonly<Record<string, ServingStatus>> = { "": ServingStatus.NOT_SERVING }) {
    for (const [service, status] of Object.entries(initial)) this.#statuses.set(service, status);
  }

  /** Ignored after shutdown(), so nothing can report SERVING while the server drains. */
  set(service: string, status: ServingStatus): void {
    if (this.#shutDown) return;
    this.#update(service, status);
  }

  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  list(): ReadonlyMap<string, ServingStatus> {
    return new Map(this.#statuses);
  }

  /** Every service NOT_SERVING, for good: the first step of a graceful shutdown. */
  shutdown(): void {
    this.#shutDown = true;
    for (const service of this.#statuses.keys()) this.#update(service, ServingStatus.NOT_SERVING);
  }

  /**
   * Ends every Watch stream (after it delivered the latest status, so
   * watchers see NOT_SERVING first when shutdown() came before), so they do
   * not hold the server's graceful close open.
   */
  endWatches(): void {
    this.#ended.abort();
  }

  /**
   * The current status at once (SERVICE_UNKNOWN for an unknown service), then
   * each change, until `signal` aborts or endWatches(). Changes that happen
   * while the consumer is busy collapse into the latest one, and a status is
   * never repeated.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let latest = this.#statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
    let wake: (() => void) | undefined;
    const listener: Listener = (status) => {
      latest = status;
      wake?.();
    };
    const listeners = this.#listeners.get(service) ?? new Set<Listener>();
    this.#listeners.set(service, listeners);
    listeners.add(listener);
    try {
      let sent = latest;
      yield sent;
      for (;;) {
        if (latest === sent) {
          if (signal.aborted || this.#ended.signal.aborted) return;
          await new Promise<void>((resolve) => {
            const ended = this.#ended.signal;
            // Drop the abort listeners once woken, or a long watch leaks one per change.
            const done = () => {
              wake = undefined;
              signal.removeEventListener("abort", done);
              ended.removeEventListener("abort", done);
              resolve();
            };
            wake = done;
            signal.addEventListener("abort", done);
            ended.addEventListener("abort", done);
          });
          continue;
        }
        if (signal.aborted) return;
        sent = latest;
        yield sent;
      }
    } finally {
      listeners.delete(listener);
      if (listeners.size === 0) this.#listeners.delete(service);
    }
  }

  #update(service: string, status: ServingStatus): void {
    const previous = this.#statuses.get(service);
    this.#statuses.set(service, status);
    if (previous === status) return;
    for (const listener of this.#listeners.get(service) ?? []) listener(status);
  }
}

export function healthService(registry: HealthRegistry): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = registry.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status };
    },
    list() {
      const statuses: Record<string, { status: ServingStatus }> = {};
      for (const [service, status] of registry.list()) statuses[service] = { status };
      return { statuses };
    },
    async *watch(request, ctx) {
      for await (const status of registry.watch(request.service, ctx.signal)) yield { status };
    },
  };
}
