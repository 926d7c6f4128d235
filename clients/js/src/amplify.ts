/**
 * The GraphQL transport on Amplify JS v6: `amplifyTransport(generateClient())`.
 *
 * Amplify v6 derives the real-time URL from the GraphQL endpoint (`<endpoint>/realtime`
 * for a custom host, always `wss://`) and reconnects dropped subscriptions by itself. It
 * reports each `start_ack` on the Hub's `api` channel ("Subscription ack", with the
 * subscription's variables): that is how a tokencast stream knows it may start, and how it
 * learns that Amplify re-established a subscription after a drop (then it catches up).
 */
import { Hub } from "aws-amplify/utils";

import { ConnectionLost, errorFromGraphQL, toTokencastError } from "./errors.js";
import type { TokencastError } from "./errors.js";
import type { GraphQLTransport, LiveSubscription, SubscriptionHandlers, Variables } from "./transport.js";

/** Amplify's auth modes (`generateClient({ authMode })`). */
export type AmplifyAuthMode = "apiKey" | "iam" | "identityPool" | "userPool" | "oidc" | "lambda" | "none";

interface Observable {
  subscribe(observer: { next(value: unknown): void; error(error: unknown): void }): { unsubscribe(): void };
}

/** The part of `generateClient()`'s result this transport uses. */
export interface AmplifyGraphQLClient {
  graphql(options: {
    query: string;
    variables?: Variables;
    authMode?: AmplifyAuthMode;
    authToken?: string;
  }): unknown;
}

export interface AmplifyTransportOptions {
  /** Per-request auth mode; the client's (or the Amplify config's) default when absent. */
  authMode?: AmplifyAuthMode;
  /** For `lambda` / `oidc` auth. */
  authToken?: string;
}

/** Amplify's prefix for real-time failures (CONTROL_MSG.CONNECTION_FAILED), then the detail. */
const CONNECTION_FAILED = "Connection failed: ";

/**
 * A subscription failure from Amplify as a TokencastError. Amplify reports a server `error`
 * message as `Connection failed: <the payload as JSON>`, so its `errorType`s are recovered
 * from there; a failure without a payload (the socket could not be opened) is ConnectionLost,
 * which the stream retries; Amplify's own rewording of a denial is "Unauthorized".
 */
export function amplifySubscriptionError(error: unknown): TokencastError {
  const first = (error as { errors?: { message?: unknown }[] } | null)?.errors?.[0];
  const message = typeof first?.message === "string" ? first.message : null;
  if (message !== null && message.startsWith(CONNECTION_FAILED)) {
    const detail = message.slice(CONNECTION_FAILED.length);
    try {
      const parsed = JSON.parse(detail) as { errors?: unknown; payload?: { errors?: unknown } };
      const errors = parsed.errors ?? parsed.payload?.errors;
      if (Array.isArray(errors) && errors.length > 0) return errorFromGraphQL(errors);
    } catch {
      // not JSON: the connection itself failed
    }
    return new ConnectionLost(message);
  }
  if (message === "Unauthorized") return errorFromGraphQL([{ errorType: "Unauthorized", message }]);
  return toTokencastError(error);
}

/** The Hub event Amplify v6 dispatches on each `start_ack` (CONTROL_MSG.SUBSCRIPTION_ACK). */
const SUBSCRIPTION_ACK = "Subscription ack";

/** Amplify reports the query as graphql-js printed it: compare without layout. */
function compact(query: unknown): string {
  return typeof query === "string" ? query.replace(/[\s,]+/g, "") : "";
}

function sameVariables(a: unknown, b: Variables): boolean {
  if (typeof a !== "object" || a === null) return false;
  const left = a as Record<string, unknown>;
  return Object.keys(b).every((key) => left[key] === b[key]);
}

export function amplifyTransport(client: AmplifyGraphQLClient, options: AmplifyTransportOptions = {}): GraphQLTransport {
  const auth = {
    ...(options.authMode !== undefined ? { authMode: options.authMode } : {}),
    ...(options.authToken !== undefined ? { authToken: options.authToken } : {}),
  };
  return {
    async request(document: string, variables: Variables): Promise<Record<string, unknown>> {
      const result = (await client.graphql({ query: document, variables, ...auth })) as {
        data?: Record<string, unknown> | null;
        errors?: unknown[];
      };
      if (result.errors && result.errors.length > 0) throw toTokencastError(result);
      return result.data ?? {};
    },

    subscribe(document: string, variables: Variables, handlers: SubscriptionHandlers): LiveSubscription {
      let closed = false;
      const wanted = compact(document);
      const stopListening = Hub.listen("api", ({ payload }) => {
        const data = payload.data as { query?: unknown; variables?: unknown } | undefined;
        if (!closed && payload.event === SUBSCRIPTION_ACK && data !== undefined && compact(data.query) === wanted && sameVariables(data.variables, variables)) {
          handlers.onAck();
        }
      });
      const observable = client.graphql({ query: document, variables, ...auth }) as Observable;
      const subscription = observable.subscribe({
        next(value: unknown) {
          if (closed) return;
          const data = (value as { data?: Record<string, unknown> | null }).data;
          const event = data ? Object.values(data)[0] : undefined;
          if (event != null) handlers.onData(event);
        },
        error(error: unknown) {
          if (closed) return;
          closed = true;
          stopListening();
          handlers.onError(amplifySubscriptionError(error));
        },
      });
      return {
        close() {
          if (closed) return;
          closed = true;
          stopListening();
          subscription.unsubscribe();
        },
      };
    },
  };
}
