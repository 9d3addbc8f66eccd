// gRPC server reflection (grpc.reflection.v1 and v1alpha, same logic), so
// grpcurl, ghz and Postman work without .proto files. Descriptors come from
// the generated code: every GenFile embeds its FileDescriptorProto.
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { mount, type MountedService } from "./mounted-service.js";

/** A request's `message_request`, as both versions spell it. */
export type ReflectionRequest =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** A response's `message_response`, assignable to both versions. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

// gRPC status codes carried inside error_response (it is not an RPC failure).
const invalidArgument = 3;
const notFound = 5;

/** What reflection can tell about a fixed set of files and their dependencies. */
export class ReflectionIndex {
  readonly #files = new Map<string, DescFile>();
  readonly #symbols = new Map<string, DescFile>();
  /** extendee type name → extension number → declaring file */
  readonly #extensions = new Map<string, Map<number, DescFile>>();
  readonly #services: string[];
  readonly #encoded = new Map<DescFile, Uint8Array>();

  /** `files` are the served ones: their services are listed; their dependencies are resolvable. */
  constructor(files: readonly DescFile[]) {
    const services = new Set<string>();
    for (const file of files) {
      for (const service of file.services) services.add(service.typeName);
      this.#addWithDependencies(file);
    }
    this.#services = [...services].sort();
  }

  answer(request: ReflectionRequest): ReflectionAnswer {
    switch (request.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.#services.map((name) => ({ name })) } };
      case "fileByFilename":
        return this.#fileAnswer(this.#files.get(request.value), `file not found: ${request.value}`);
      case "fileContainingSymbol":
        return this.#fileAnswer(this.#symbols.get(request.value), `symbol not found: ${request.value}`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = request.value;
        return this.#fileAnswer(
          this.#extensions.get(containingType)?.get(extensionNumber),
          `extension not found: ${containingType} ${extensionNumber}`,
        );
      }
      case "allExtensionNumbersOfType": {
        const extendee = this.#symbols.get(request.value);
        if (extendee === undefined) return error(notFound, `type not found: ${request.value}`);
        const numbers = [...(this.#extensions.get(request.value)?.keys() ?? [])].sort((a, b) => a - b);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
      }
      case undefined:
        return error(invalidArgument, "no message_request set");
    }
  }

  /** The file first, then its transitive dependencies: clients need them all to build the descriptor. */
  #fileAnswer(file: DescFile | undefined, missing: string): ReflectionAnswer {
    if (file === undefined) return error(notFound, missing);
    const seen = new Set<string>();
    const order: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      order.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: order.map((f) => this.#encode(f)) } };
  }

  #encode(file: DescFile): Uint8Array {
    let bytes = this.#encoded.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.#encoded.set(file, bytes);
    }
    return bytes;
  }

  #addWithDependencies(file: DescFile): void {
    // By proto name (`grpc/health/v1/health.proto`); DescFile.name lacks `.proto`.
    const name = file.proto.name;
    if (this.#files.has(name)) return;
    this.#files.set(name, file);
    for (const desc of nestedTypes(file)) {
      this.#symbols.set(desc.typeName, file);
      switch (desc.kind) {
        case "message":
          for (const field of desc.fields) this.#symbols.set(`${desc.typeName}.${field.name}`, file);
          for (const oneof of desc.oneofs) this.#symbols.set(`${desc.typeName}.${oneof.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped as siblings of their enum (C++ rules).
          const scope = desc.typeName.slice(0, Math.max(0, desc.typeName.lastIndexOf(".")));
          for (const value of desc.values) this.#symbols.set(scope ? `${scope}.${value.name}` : value.name, file);
          break;
        }
        case "service":
          for (const method of desc.methods) this.#symbols.set(`${desc.typeName}.${method.name}`, file);
          break;
        case "extension": {
          const byNumber = this.#extensions.get(desc.extendee.typeName) ?? new Map<number, DescFile>();
          byNumber.set(desc.number, file);
          this.#extensions.set(desc.extendee.typeName, byNumber);
          break;
        }
      }
    }
    file.dependencies.forEach((dep) => this.#addWithDependencies(dep));
  }
}

function error(errorCode: number, errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode, errorMessage } };
}

/**
 * Both reflection services over `files` (pass every file whose services the
 * server mounts, e.g. the health file and the app's). The reflection files
 * are added here, so reflection lists itself as grpc-go does.
 */
export function reflectionServices(files: readonly DescFile[]): MountedService[] {
  const index = new ReflectionIndex([
    ...files,
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  return [
    mount(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: index.answer(request.messageRequest) };
        }
      },
    }),
    mount(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: index.answer(request.messageRequest) };
        }
      },
    }),
  ];
}
