// A test-only service with all four method kinds, built from a descriptor at
// run time (no .proto, no codegen) and typed like generated code, so the
// transport tests don't depend on the app's contract while it changes.
import { create, createFileRegistry, type DescFile, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

const payload = ".parley.test.v1.Payload";
const proto = create(FileDescriptorProtoSchema, {
  name: "parley/test/v1/transport_test.proto",
  package: "parley.test.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "Payload",
      field: [
        { name: "seq", number: 1, type: Type.INT32, label: Label.OPTIONAL, jsonName: "seq" },
        { name: "data", number: 2, type: Type.BYTES, label: Label.OPTIONAL, jsonName: "data" },
        { name: "text", number: 3, type: Type.STRING, label: Label.OPTIONAL, jsonName: "text" },
        { name: "size", number: 4, type: Type.INT32, label: Label.OPTIONAL, jsonName: "size" },
      ],
    },
  ],
  service: [
    {
      name: "TransportTestService",
      method: [
        { name: "Unary", inputType: payload, outputType: payload },
        { name: "ServerStream", inputType: payload, outputType: payload, serverStreaming: true },
        { name: "ClientStream", inputType: payload, outputType: payload, clientStreaming: true },
        { name: "Bidi", inputType: payload, outputType: payload, clientStreaming: true, serverStreaming: true },
      ],
    },
  ],
});

const registry = createFileRegistry(proto, () => undefined);

export const file_parley_test_v1_transport_test: DescFile = registry.getFile(proto.name)!;

export type Payload = Message<"parley.test.v1.Payload"> & {
  seq: number;
  data: Uint8Array;
  text: string;
  size: number;
};

export const PayloadSchema = registry.getMessage("parley.test.v1.Payload") as GenMessage<Payload>;

type Method<K extends "unary" | "server_streaming" | "client_streaming" | "bidi_streaming"> = {
  methodKind: K;
  input: typeof PayloadSchema;
  output: typeof PayloadSchema;
};

export const TransportTestService = registry.getService("parley.test.v1.TransportTestService") as GenService<{
  unary: Method<"unary">;
  serverStream: Method<"server_streaming">;
  clientStream: Method<"client_streaming">;
  bidi: Method<"bidi_streaming">;
}>;
