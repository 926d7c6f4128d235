/**
 * A GraphQL transport for the TS client on the browser's own `fetch` and `WebSocket`,
 * speaking AppSync's real-time protocol (graphql-ws subprotocol, `connection_init`,
 * `start`/`start_ack`/`data`/`error`/`stop`, `ka`).
 *
 * Why the console has one besides Amplify's: Amplify JS v6 always dials `wss://` (it
 * rewrites `http://`), so it cannot subscribe to a local stack served over plain HTTP. The
 * console uses Amplify (`amplifyTransport(generateClient())`) whenever the API is HTTPS, and
 * this transport when it is plain `http://` (then the real-time URL is `ws://`).
 *
 * One WebSocket carries every subscription of the page. When it drops, each subscription
 * hears `onError(ConnectionLost)`; the TS client's stream then resubscribes with backoff and
 * catches up from the event log, so nothing is lost or duplicated.
 */
import { ConnectionLost, errorFromGraphQL, toTokencastError } from "@tokencast/client";
import type { GraphQLTransport, LiveSubscription, SubscriptionHandlers, Variables } from "@tokencast/client";

/** What authorizes a request: the same header object goes in HTTP headers and real-time messages. */
export type AuthHeaders = () => Promise<Record<string, string>>;

interface Pending {
  query: string;
  variables: Variables;
  handlers: SubscriptionHandlers;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

export function appsyncTransport(graphqlUrl: string, realtimeUrl: string, auth: AuthHeaders): GraphQLTransport {
  const host = new URL(graphqlUrl).host;
  let socket: WebSocket | null = null;
  let ready: Promise<WebSocket> | null = null;
  let counter = 0;
  const live = new Map<string, Pending>();

  const authorization = async (): Promise<Record<string, string>> => ({ host, ...(await auth()) });

  const drop = (reason: string): void => {
    socket = null;
    ready = null;
    const failed = [...live.values()];
    live.clear();
    for (const sub of failed) sub.handlers.onError(new ConnectionLost(reason));
  };

  const connect = (): Promise<WebSocket> => {
    if (ready !== null) return ready;
    ready = (async () => {
      const header = base64(JSON.stringify(await authorization()));
      const ws = new WebSocket(`${realtimeUrl}?header=${encodeURIComponent(header)}&payload=e30=`, ["graphql-ws"]);
      await new Promise<void>((resolve, reject) => {
        let timeoutMs = 300_000;
        let keepAlive: ReturnType<typeof setTimeout> | null = null;
        const armKeepAlive = (): void => {
          if (keepAlive !== null) clearTimeout(keepAlive);
          keepAlive = setTimeout(() => ws.close(4000, "keep-alive timeout"), timeoutMs);
        };
        ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init" }));
        ws.onerror = () => reject(new ConnectionLost(`cannot reach ${realtimeUrl}`));
        ws.onclose = (event) => {
          if (keepAlive !== null) clearTimeout(keepAlive);
          reject(new ConnectionLost(`real-time connection closed (${event.code})`));
          if (socket === ws) drop(`real-time connection closed (${event.code})`);
        };
        ws.onmessage = (message) => {
          const frame = JSON.parse(String(message.data)) as {
            type: string;
            id?: string;
            payload?: { connectionTimeoutMs?: number; data?: Record<string, unknown>; errors?: unknown[] };
          };
          const sub = frame.id !== undefined ? live.get(frame.id) : undefined;
          switch (frame.type) {
            case "connection_ack":
              timeoutMs = frame.payload?.connectionTimeoutMs ?? timeoutMs;
              armKeepAlive();
              socket = ws;
              resolve();
              break;
            case "ka":
              armKeepAlive();
              break;
            case "connection_error":
              reject(errorFromGraphQL(frame.payload?.errors ?? [{ message: "connection refused" }]));
              ws.close();
              break;
            case "start_ack":
              sub?.handlers.onAck();
              break;
            case "data": {
              const data = frame.payload?.data;
              const event = data ? Object.values(data)[0] : undefined;
              if (sub && event != null) sub.handlers.onData(event);
              break;
            }
            case "error":
              if (sub && frame.id !== undefined) {
                live.delete(frame.id);
                sub.handlers.onError(errorFromGraphQL(frame.payload?.errors ?? [{ message: "subscription failed" }]));
              }
              break;
            default:
              break; // "complete" after our "stop"
          }
        };
      });
      return ws;
    })();
    ready.catch(() => {
      ready = null;
    });
    return ready;
  };

  return {
    async request(document: string, variables: Variables): Promise<Record<string, unknown>> {
      let response: Response;
      try {
        response = await fetch(graphqlUrl, {
          method: "POST",
          headers: { "content-type": "application/json", ...(await auth()) },
          body: JSON.stringify({ query: document, variables }),
        });
      } catch (error) {
        throw toTokencastError(error);
      }
      const body = (await response.json().catch(() => ({}))) as { data?: Record<string, unknown>; errors?: unknown[] };
      if (body.errors && body.errors.length > 0) throw errorFromGraphQL(body.errors);
      if (!response.ok) throw new ConnectionLost(`GraphQL request failed: HTTP ${response.status}`);
      return body.data ?? {};
    },

    subscribe(document: string, variables: Variables, handlers: SubscriptionHandlers): LiveSubscription {
      counter += 1;
      const id = `console-${counter}-${Math.random().toString(36).slice(2)}`;
      let closed = false;
      const pending: Pending = { query: document, variables, handlers };
      void (async () => {
        try {
          const ws = await connect();
          if (closed) return;
          live.set(id, pending);
          ws.send(
            JSON.stringify({
              id,
              type: "start",
              payload: {
                data: JSON.stringify({ query: document, variables }),
                extensions: { authorization: await authorization() },
              },
            }),
          );
        } catch (error) {
          if (!closed) handlers.onError(toTokencastError(error));
        }
      })();
      return {
        close() {
          if (closed) return;
          closed = true;
          if (live.delete(id) && socket !== null) socket.send(JSON.stringify({ id, type: "stop" }));
        },
      };
    },
  };
}
