/**
 * The HandlerContext of a call served by grpc-js: what Connect's
 * `createHandlerContext` builds, with less per call. That function copies
 * the request headers, arms its own deadline timer and links three abort
 * signals (seven EventTarget listeners in all); on Node 20 each controller
 * and listener is measurable, and every unary call and every turn pays them.
 * Here grpc-js's own deadline is the only one (the adapter maps its
 * "cancelled" to DEADLINE_EXCEEDED), and one controller serves the call,
 * following the server's shutdown signal with a single listener.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import type { ContextValues, HandlerContext } from "@connectrpc/connect";
import { createContextValues } from "@connectrpc/connect";

export interface CallContext extends HandlerContext {
  /** Ends the context: its signal aborts with `reason`. Later calls do nothing. */
  abort(reason: unknown): void;
}

export interface CallContextInit {
  method: DescMethod;
  url: string;
  /** Epoch ms, or undefined for a call without deadline. */
  deadlineAt: number | undefined;
  requestHeader: Headers;
  contextValues: ContextValues | undefined;
  shutdownSignal: AbortSignal | undefined;
}

export function createCallContext(init: CallContextInit): CallContext {
  const controller = new AbortController();
  const { shutdownSignal, deadlineAt } = init;
  const onShutdown = () => controller.abort(shutdownSignal?.reason);
  if (shutdownSignal?.aborted) controller.abort(shutdownSignal.reason);
  else shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
  return {
    method: init.method,
    service: init.method.parent,
    protocolName: "grpc",
    requestMethod: "POST",
    url: init.url,
    signal: controller.signal,
    timeoutMs: deadlineAt === undefined ? () => undefined : () => deadlineAt - Date.now(),
    requestHeader: init.requestHeader,
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: init.contextValues ?? createContextValues(),
    abort(reason) {
      if (controller.signal.aborted) return;
      shutdownSignal?.removeEventListener("abort", onShutdown);
      controller.abort(reason);
    },
  };
}
