/**
 * Wraps a service's handlers with what every call needs before it runs:
 * authentication (the principal goes on the context) and protovalidate
 * checks of every request against the contract's rules. Wrapping the
 * handlers themselves, not one engine's interceptors, means gRPC, Connect
 * and gRPC-Web callers get the same behaviour.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import type { Validator } from "@bufbuild/protovalidate";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { principalKey, type Authenticator } from "./auth.js";
import { invalidArgument } from "./errors.js";

export interface GuardDeps {
  /** Omit for services every caller may use (health, reflection). */
  auth?: Authenticator;
  validator: Validator;
  /** Throws to refuse every call (the server is draining). */
  admit?: () => void;
}

type AnyHandler = (input: unknown, ctx: HandlerContext) => unknown;

function check(validator: Validator, schema: DescMessage, message: unknown): void {
  const result = validator.validate(schema, message as never);
  if (result.kind === "valid") return;
  if (result.kind === "error") throw result.error;
  throw invalidArgument(
    result.violations.map((v) => ({ field: pathToString(v.field) || "request", description: v.message, reason: v.ruleId })),
  );
}

async function* checkEach(validator: Validator, schema: DescMessage, input: AsyncIterable<unknown>): AsyncIterable<unknown> {
  for await (const message of input) {
    check(validator, schema, message);
    yield message;
  }
}

export function guard<S extends DescService>(service: S, impl: ServiceImpl<S>, deps: GuardDeps): ServiceImpl<S> {
  const handlers = impl as unknown as Record<string, AnyHandler>;
  const guarded: Record<string, AnyHandler> = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (!handler) continue;
    const streamingInput = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const authenticate = (ctx: HandlerContext) => {
      deps.admit?.();
      if (deps.auth) ctx.values.set(principalKey, deps.auth.authenticate(ctx.requestHeader));
    };
    if (method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming") {
      // A plain function, not a generator wrapping the handler's: every message of the stream
      // would climb through one more generator layer. Connect invokes handlers inside its own
      // async function, so a refusal thrown here still ends the stream with its status.
      guarded[method.localName] = (input: unknown, ctx: HandlerContext) => {
        authenticate(ctx);
        if (!streamingInput) check(deps.validator, method.input, input);
        return handler(streamingInput ? checkEach(deps.validator, method.input, input as AsyncIterable<unknown>) : input, ctx);
      };
    } else {
      guarded[method.localName] = async (input: unknown, ctx: HandlerContext) => {
        authenticate(ctx);
        if (!streamingInput) check(deps.validator, method.input, input);
        const source = streamingInput ? checkEach(deps.validator, method.input, input as AsyncIterable<unknown>) : input;
        return await handler(source, ctx);
      };
    }
  }
  return guarded as unknown as ServiceImpl<S>;
}
