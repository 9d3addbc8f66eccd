/** ConversationService handlers: requests to store calls and runs; records to messages. */
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { newId } from "../ids.js";
import {
  ConversationService,
  CreateConversationResponseSchema,
  DeleteConversationResponseSchema,
  GetConversationResponseSchema,
  ListConversationsResponseSchema,
  ListMessagesResponseSchema,
} from "../../gen/parley/v1/conversation_service_pb.js";
import type { Store } from "../store/store.js";
import type { TurnRunner } from "../runs/turn-runner.js";
import { principalOf } from "./auth.js";
import { conversationToProto, messageToProto } from "./convert.js";
import { apiError, invalidArgument, notFound } from "./errors.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";

export interface ConversationServiceDeps {
  store: Store;
  runner: TurnRunner;
  allowedModels: string[];
}

const DEFAULT_CONVERSATION_PAGE = 50;

/** The contract accepts a UUID in either case; ids are stored in lower case. */
const canonicalId = (id: string): string => id.toLowerCase();
const DEFAULT_MESSAGE_PAGE = 100;

export function conversationService({ store, runner, allowedModels }: ConversationServiceDeps): ServiceImpl<typeof ConversationService> {
  return {
    async createConversation(req, ctx: HandlerContext) {
      const { tenant } = principalOf(ctx);
      const c = req.conversation;
      if (!c) throw invalidArgument([{ field: "conversation", description: "value is required" }]);
      if (c.model !== "" && !allowedModels.includes(c.model)) {
        throw invalidArgument([{ field: "conversation.model", description: `model "${c.model}" is not allowed; allowed: ${allowedModels.join(", ")}` }]);
      }
      const record = await store.createConversation({
        id: newId(), tenant, title: c.title, systemPrompt: c.systemPrompt, model: c.model, metadata: c.metadata, createTime: new Date(),
      });
      return create(CreateConversationResponseSchema, { conversation: conversationToProto(record) });
    },

    async getConversation(req, ctx) {
      const record = await store.getConversation(principalOf(ctx).tenant, canonicalId(req.id));
      if (!record) throw notFound("conversation");
      return create(GetConversationResponseSchema, { conversation: conversationToProto(record) });
    },

    async listConversations(req, ctx) {
      const { tenant } = principalOf(ctx);
      const scope = "conversations";
      const page = await store.listConversations(tenant, {
        pageSize: pageSize(req.pageSize, DEFAULT_CONVERSATION_PAGE),
        afterId: decodePageToken(scope, req.pageToken),
      });
      return create(ListConversationsResponseSchema, {
        conversations: page.items.map(conversationToProto),
        nextPageToken: encodePageToken(scope, page.nextAfterId),
      });
    },

    async deleteConversation(req, ctx) {
      const result = await store.deleteConversation(principalOf(ctx).tenant, canonicalId(req.id));
      if (result === "not_found") throw notFound("conversation");
      if (result === "busy") throw apiError({ code: Code.FailedPrecondition, message: "a run is active on this conversation; wait for it to end", reason: "RUN_ACTIVE" });
      return create(DeleteConversationResponseSchema, {});
    },

    async listMessages(req, ctx) {
      const { tenant } = principalOf(ctx);
      const conversationId = canonicalId(req.conversationId);
      const scope = `messages:${conversationId}`;
      const page = await store.listMessages(tenant, conversationId, {
        pageSize: pageSize(req.pageSize, DEFAULT_MESSAGE_PAGE),
        afterId: decodePageToken(scope, req.pageToken),
      });
      if (!page) throw notFound("conversation");
      return create(ListMessagesResponseSchema, {
        messages: page.items.map(messageToProto),
        nextPageToken: encodePageToken(scope, page.nextAfterId),
      });
    },

    streamMessage(req, ctx) {
      return runner.stream({ ...req, conversationId: canonicalId(req.conversationId) }, ctx, principalOf(ctx));
    },
  };
}
