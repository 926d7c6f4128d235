/**
 * The GraphQL transport the client runs on: one request call and one subscribe call.
 *
 * Amplify v6 (`./amplify`) and Apollo Client 4 with the aws-appsync links (`./apollo`) are
 * provided; anything that can run a GraphQL operation against AppSync and tell when a
 * subscription is acknowledged (`start_ack`) can be plugged in.
 */
import type { TokencastError } from "./errors.js";

export type Variables = Record<string, unknown>;

export interface SubscriptionHandlers {
  /**
   * The subscription is acknowledged (`start_ack`): events published from now on reach it.
   * Called again whenever the transport re-established the subscription by itself (Amplify
   * reconnects on its own); the client then catches up on what was missed meanwhile.
   */
  onAck(): void;
  /** One `onTokenReceived` payload (the TokenEvent object, as selected). */
  onData(data: unknown): void;
  /** The subscription ended with an error and delivers nothing more. */
  onError(error: TokencastError): void;
}

export interface LiveSubscription {
  close(): void;
}

export interface GraphQLTransport {
  /** Run a query or mutation; resolve with `data`, reject with the transport's error. */
  request(document: string, variables: Variables): Promise<Record<string, unknown>>;
  /** Subscribe; acknowledgement, data and errors arrive through `handlers`. */
  subscribe(document: string, variables: Variables, handlers: SubscriptionHandlers): LiveSubscription;
}
