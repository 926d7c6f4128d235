/**
 * The GraphQL transport on Apollo Client 4 with aws-appsync-auth-link and
 * aws-appsync-subscription-link: `apolloTransport(apolloClient)`.
 *
 * The subscription link reports `start_ack` as a control message when the operation's
 * context asks for them (`controlMessages: {"@@controlEvents": true}`): a result whose
 * `extensions.controlMsgType` is `CONNECTED`. Deduplication is off for subscriptions, so two
 * streams of one session each see their own acknowledgement.
 *
 * Create the ApolloClient with `enhancedClientAwareness: { transport: false }`: Apollo 4
 * otherwise adds `extensions.clientLibrary` to the body after the auth link signed it, and
 * IAM-signed requests fail (locally as on AWS).
 */
import { gql } from "@apollo/client";
import type { ApolloClient, DocumentNode } from "@apollo/client";

import { toTokencastError } from "./errors.js";
import type { GraphQLTransport, LiveSubscription, SubscriptionHandlers, Variables } from "./transport.js";

/** aws-appsync-subscription-link's CONTROL_EVENTS_KEY. */
const CONTROL_EVENTS_KEY = "@@controlEvents";

export function apolloTransport(client: ApolloClient): GraphQLTransport {
  const parsed = new Map<string, DocumentNode>();
  const documentFor = (source: string): DocumentNode => {
    let document = parsed.get(source);
    if (document === undefined) {
      document = gql(source);
      parsed.set(source, document);
    }
    return document;
  };
  return {
    async request(document: string, variables: Variables): Promise<Record<string, unknown>> {
      const query = documentFor(document);
      const isMutation = /^\s*mutation\b/.test(document);
      const result = isMutation
        ? await client.mutate({ mutation: query, variables, fetchPolicy: "no-cache" })
        : await client.query({ query, variables, fetchPolicy: "no-cache" });
      if (result.error) throw toTokencastError(result.error);
      return (result.data ?? {}) as Record<string, unknown>;
    },

    subscribe(document: string, variables: Variables, handlers: SubscriptionHandlers): LiveSubscription {
      let closed = false;
      const subscription = client
        .subscribe({
          query: documentFor(document),
          variables,
          fetchPolicy: "no-cache",
          context: { controlMessages: { [CONTROL_EVENTS_KEY]: true }, queryDeduplication: false },
        })
        .subscribe({
          next(result) {
            if (closed) return;
            if (result.extensions?.controlMsgType === "CONNECTED") {
              handlers.onAck();
              return;
            }
            if (result.error) {
              closed = true;
              subscription.unsubscribe();
              handlers.onError(toTokencastError(result.error));
              return;
            }
            const data = result.data as Record<string, unknown> | undefined;
            const event = data ? Object.values(data)[0] : undefined;
            if (event != null) handlers.onData(event);
          },
          error(error: unknown) {
            if (closed) return;
            closed = true;
            handlers.onError(toTokencastError(error));
          },
          complete() {
            if (closed) return;
            closed = true;
            handlers.onError(toTokencastError(new Error("subscription completed by the server")));
          },
        });
      return {
        close() {
          if (closed) return;
          closed = true;
          subscription.unsubscribe();
        },
      };
    },
  };
}
