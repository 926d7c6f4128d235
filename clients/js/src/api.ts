/**
 * tokencast's queries and mutations over a {@link GraphQLTransport}. Every operation is
 * idempotent (startStream always carries a client-chosen sessionId), so transient failures
 * (network, throttling) are retried with backoff; GraphQL errors become exact errors by
 * `errorType` and are not retried.
 */
import { CANCEL_STREAM, GET_EVENTS, GET_SESSION, LIST_SESSIONS, START_STREAM } from "./documents.js";
import { isTransient, toTokencastError } from "./errors.js";
import type { GraphQLTransport, Variables } from "./transport.js";
import { parsePage, parseSession, parseSessionPage } from "./types.js";
import type { EventPage, Session, SessionPage, Visibility } from "./types.js";

export interface Message {
  role: "user" | "assistant";
  text: string;
}

export interface StartInput {
  prompt?: string;
  /** Earlier turns of a conversation; the prompt, if given, is appended as the last user turn. */
  messages?: Message[];
  system?: string;
  modelId?: string;
  maxTokens?: number;
  temperature?: number;
  visibility?: Visibility;
  /** Client-chosen UUID; a new one (crypto.randomUUID) when absent. */
  sessionId?: string;
}

export class Api {
  constructor(
    readonly transport: GraphQLTransport,
    private readonly retries = 3,
    private readonly retryBaseMs = 100,
  ) {}

  /** Run any operation with the client's retry and error mapping. */
  async call(document: string, variables: Variables): Promise<Record<string, unknown>> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.transport.request(document, variables);
      } catch (raw) {
        const error = toTokencastError(raw);
        if (!isTransient(error) || attempt >= this.retries) throw error;
        await new Promise((r) => setTimeout(r, Math.random() * this.retryBaseMs * 2 ** attempt));
      }
    }
  }

  async startStream(input: StartInput & { sessionId: string }): Promise<Session> {
    const { prompt, ...rest } = input;
    const fields = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const data = await this.call(START_STREAM, { prompt: prompt ?? null, input: fields });
    return parseSession(data.startStream);
  }

  async cancelStream(sessionId: string): Promise<Session> {
    const data = await this.call(CANCEL_STREAM, { sessionId });
    return parseSession(data.cancelStream);
  }

  /** The session, or null when there is none (or it is not the caller's to read). */
  async getSession(sessionId: string): Promise<Session | null> {
    const data = await this.call(GET_SESSION, { sessionId });
    return data.getSession == null ? null : parseSession(data.getSession);
  }

  async getEvents(sessionId: string, afterAttempt = 0, afterSeq = 0, limit?: number): Promise<EventPage> {
    const data = await this.call(GET_EVENTS, { sessionId, afterAttempt, afterSeq, limit: limit ?? null });
    return parsePage(data.getEvents);
  }

  async listSessions(limit?: number, nextToken?: string | null): Promise<SessionPage> {
    const data = await this.call(LIST_SESSIONS, { limit: limit ?? null, nextToken: nextToken ?? null });
    return parseSessionPage(data.listSessions);
  }
}
