/**
 * The GraphQL transport on Apollo Client 4 with aws-appsync-auth-link and
 * aws-appsync-subscription-link: `apolloTransport(apolloClient)`.
 *
 * The subscription link reports `start_ack` as a control message when the operation's
 * context asks for them (`controlMessages: {"@@controlEvents": true}`): a result whose
 * `extensions.controlMsgType` is `CONNECTED`. ApolloClient.subscribe() filters out results
 * without data, so subscriptions run through the client's link chain (`ApolloLink.execute`),
 * each with its own acknowledgement.
 *
 * Create the ApolloClient with `enhancedClientAwareness: { transport: false }`: Apollo 4
 * otherwise adds `extensions.clientLibrary` to the body after the auth link signed it, and
 * IAM-signed requests fail (locally as on AWS).
 */
import { ApolloLink, gql } from "@apollo/client";
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
      // Through the client's link chain directly: ApolloClient.subscribe() drops results
      // without data, which is what the link's CONNECTED control message is.
      const subscription = ApolloLink.execute(
        client.link,
        { query: documentFor(document), variables, context: { controlMessages: { [CONTROL_EVENTS_KEY]: true } } },
        { client },
      ).subscribe({
        next(result) {
          if (closed) return;
          if (result.extensions?.controlMsgType === "CONNECTED") {
            handlers.onAck();
            return;
          }
          if (result.errors && result.errors.length > 0) {
            closed = true;
            subscription.unsubscribe();
            handlers.onError(toTokencastError(result));
            return;
          }
          const data = result.data as Record<string, unknown> | null | undefined;
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
