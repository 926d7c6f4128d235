/**
 * `createTokencastClient({graphql})`: start, watch and cancel sessions; each stream is
 * subscribed (and acknowledged) before the session is started or read, so nothing is
 * published before this client listens, and whatever was published before it joined comes
 * from the event log.
 */
import { Api } from "./api.js";
import type { StartInput } from "./api.js";
import { SessionNotFound } from "./errors.js";
import { TokenStream } from "./stream.js";
import type { StreamOptions } from "./stream.js";
import type { GraphQLTransport, Variables } from "./transport.js";
import type { EventPage, Session, SessionPage, SessionSummary } from "./types.js";

export interface ClientOptions {
  /** The GraphQL transport: `amplifyTransport(generateClient())` or `apolloTransport(client)`. */
  graphql: GraphQLTransport;
  /** How patient streams are; the defaults suit AppSync. */
  stream?: StreamOptions;
  /** Transient-failure retries of each query and mutation. */
  retries?: number;
}

export interface StreamRequest extends StartInput {
  /** Keep listening after the terminal event (a FAILED session may be replayed as a new attempt). */
  follow?: boolean;
}

function newSessionId(): string {
  return globalThis.crypto.randomUUID();
}

export class TokencastClient {
  readonly api: Api;
  private readonly streamOptions: StreamOptions;
  private readonly streams = new Set<TokenStream>();

  constructor(options: ClientOptions) {
    this.api = new Api(options.graphql, options.retries ?? 3);
    this.streamOptions = options.stream ?? {};
  }

  private newStream(sessionId: string, init: { startAttempt?: number; follow?: boolean }): TokenStream {
    const stream = new TokenStream(sessionId, this.api, this.api.transport, this.streamOptions, init);
    this.streams.add(stream);
    stream.onEnd(() => this.streams.delete(stream));
    return stream;
  }

  /** Start a session and stream its answer: subscribe, wait for start_ack, then startStream. */
  async stream(request: StreamRequest): Promise<TokenStream> {
    const { follow, ...input } = request;
    const sessionId = input.sessionId ?? newSessionId();
    const stream = this.newStream(sessionId, { follow: follow ?? false });
    try {
      await stream.attach();
      const session = await this.api.startStream({ ...input, sessionId });
      stream.begin(session);
    } catch (error) {
      stream.close();
      throw error;
    }
    return stream;
  }

  /**
   * Join a session late (or after it ended): subscribe, then catch up from the log. Starts at
   * the session's current attempt; a QUEUED or RETRYING session after an attempt ran is
   * followed from the next attempt.
   */
  async watch(sessionId: string, opts: { follow?: boolean } = {}): Promise<TokenStream> {
    const session = await this.getSession(sessionId);
    const superseded = session.attempt > 0 && (session.status === "QUEUED" || session.status === "RETRYING");
    const stream = this.newStream(sessionId, {
      startAttempt: superseded ? session.attempt + 1 : session.attempt,
      follow: opts.follow ?? false,
    });
    try {
      await stream.attach();
    } catch (error) {
      stream.close();
      throw error;
    }
    stream.begin(session);
    return stream;
  }

  /** `startStream` without listening (watch it later). */
  start(input: StartInput): Promise<Session> {
    return this.api.startStream({ ...input, sessionId: input.sessionId ?? newSessionId() });
  }

  /** `cancelStream`: the owner's request to stop; its streams then end CANCELLED. */
  cancel(sessionId: string): Promise<Session> {
    return this.api.cancelStream(sessionId);
  }

  /** `getSession`; rejects with SessionNotFound when there is none (or it is not yours). */
  async getSession(sessionId: string): Promise<Session> {
    const session = await this.api.getSession(sessionId);
    if (session === null) throw new SessionNotFound(`session ${sessionId} not found`, "NotFound");
    return session;
  }

  /** One page of stored events strictly after `(afterAttempt, afterSeq)`. */
  getEvents(sessionId: string, afterAttempt = 0, afterSeq = 0, limit?: number): Promise<EventPage> {
    return this.api.getEvents(sessionId, afterAttempt, afterSeq, limit);
  }

  /** `listSessions`: one page of your own sessions, newest first (`nextToken` from the last page). */
  listSessions(opts: { limit?: number; nextToken?: string | null } = {}): Promise<SessionPage> {
    return this.api.listSessions(opts.limit, opts.nextToken);
  }

  /** Every one of your sessions, newest first, fetching pages as the loop goes. */
  async *sessions(opts: { pageSize?: number } = {}): AsyncGenerator<SessionSummary> {
    let nextToken: string | null = null;
    do {
      const page: SessionPage = await this.api.listSessions(opts.pageSize, nextToken);
      yield* page.items;
      nextToken = page.nextToken;
    } while (nextToken !== null);
  }

  /** Any other operation of the API, with the same retries and errors. */
  request(document: string, variables: Variables = {}): Promise<Record<string, unknown>> {
    return this.api.call(document, variables);
  }

  /** Close every open stream. */
  close(): void {
    for (const stream of [...this.streams]) stream.close();
  }
}

export function createTokencastClient(options: ClientOptions): TokencastClient {
  return new TokencastClient(options);
}
