/**
 * Errors as AIP-193 shapes them: a code, a message safe to show, and
 * `google.rpc` details (ErrorInfo with a reason in the `parley` domain,
 * RetryInfo with a delay, BadRequest with field violations).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  BadRequest_FieldViolationSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";

export const ERROR_DOMAIN = "parley";

export interface ErrorSpec {
  code: Code;
  message: string;
  reason: string;
  metadata?: Record<string, string>;
  retryDelayMs?: number;
}

export function apiError(spec: ErrorSpec): ConnectError {
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: spec.reason, domain: ERROR_DOMAIN, metadata: spec.metadata ?? {} }) },
  ];
  if (spec.retryDelayMs !== undefined) {
    details.push({ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(Math.max(0, Math.ceil(spec.retryDelayMs))) }) });
  }
  return new ConnectError(spec.message, spec.code, undefined, details);
}

export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

export function invalidArgument(violations: FieldViolation[]): ConnectError {
  const first = violations[0];
  const message = violations.length === 1 && first ? `${first.field}: ${first.description}` : `invalid request: ${violations.map((v) => `${v.field}: ${v.description}`).join("; ")}`;
  return new ConnectError(message, Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: violations.map((v) => create(BadRequest_FieldViolationSchema, { field: v.field, description: v.description, reason: v.reason ?? "" })),
      }),
    },
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "INVALID_ARGUMENT", domain: ERROR_DOMAIN, metadata: { field: first?.field ?? "" } }) },
  ]);
}

export const notFound = (what: string): ConnectError =>
  apiError({ code: Code.NotFound, message: `${what} not found`, reason: "NOT_FOUND" });

export const unauthenticated = (message: string): ConnectError =>
  apiError({ code: Code.Unauthenticated, message, reason: "UNAUTHENTICATED" });

export const permissionDenied = (message: string): ConnectError =>
  apiError({ code: Code.PermissionDenied, message, reason: "PERMISSION_DENIED" });
