/**
 * The stream handle: one session's live subscription + `getEvents` catch-up, merged.
 *
 * The same driver as tokencast/client/stream.py, on callbacks and timers instead of asyncio:
 *
 * 1. subscribed (and acknowledged) before the session is started or read, then one
 *    `getEvents` catch-up from the cursor -- events published before `start_ack` (or before
 *    a late join) only exist in the log;
 * 2. live events go through the {@link StreamAssembler} (order by (attempt, seq), dedupe,
 *    supersede restarted attempts);
 * 3. a gap is fetched when the assembler says it is due, never waited on forever;
 * 4. when nothing arrives for `idlePollMs`, `getEvents` and `getSession` are polled, so a lost
 *    terminal event cannot hang the stream;
 * 5. when the subscription drops it is re-established with backoff and jitter, catching up
 *    over HTTP meanwhile and from the last contiguous (attempt, seq) once it is back; a
 *    transport that reconnects by itself (Amplify) acknowledges again, which also catches up;
 * 6. the stream ends when the current attempt's terminal event is applied with nothing
 *    missing before it (`follow` keeps listening, e.g. for a replay from the dead-letter queue).
 */
import { DEFAULT_GAP_GRACE_S, DEFAULT_MAX_GAP_BACKOFF_S, StreamAssembler } from "./assembler.js";
import type { AssemblerStats } from "./assembler.js";
import type { Api } from "./api.js";
import { ClientClosed, ConnectionLost, SessionNotFound, StreamFailed, TokencastError, isTransient } from "./errors.js";
import { ON_TOKEN_RECEIVED } from "./documents.js";
import type { GraphQLTransport, LiveSubscription } from "./transport.js";
import { isFinal, parseEvent } from "./types.js";
import type { Delta, Session, SessionStatus, StreamResult, TokenEvent, Usage } from "./types.js";

export interface StreamOptions {
  /** Wait this long for a missing seq to arrive live before fetching it (ms). */
  gapGraceMs?: number;
  /** While a gap stays open after fetches, refetch at most this far apart (ms). */
  maxGapBackoffMs?: number;
  /** Nothing arrived for this long: poll getEvents (and getSession) as a safety net (ms). */
  idlePollMs?: number;
  /** getEvents page size; the server's default when absent. */
  pageLimit?: number;
  /** Resubscribe after a drop: exponential backoff with jitter from base to max (ms). */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Consecutive failed (re)subscribe attempts before the stream fails with ConnectionLost. */
  maxReconnectAttempts?: number;
  /** How long to wait for `start_ack` before counting a subscribe attempt as failed (ms). */
  ackTimeoutMs?: number;
}

const DEFAULTS: Required<Omit<StreamOptions, "pageLimit">> = {
  gapGraceMs: DEFAULT_GAP_GRACE_S * 1000,
  maxGapBackoffMs: DEFAULT_MAX_GAP_BACKOFF_S * 1000,
  idlePollMs: 5000,
  reconnectBaseMs: 200,
  reconnectMaxMs: 5000,
  maxReconnectAttempts: 8,
  ackTimeoutMs: 15000,
};

export interface StreamStats {
  liveEvents: number;
  malformedEvents: number;
  catchUps: number;
  idlePolls: number;
  drops: number;
  resubscribes: number;
  reacks: number;
  fetchFailures: number;
  assembler: AssemblerStats;
}

type Listener<T> = (value: T) => void;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Full-jitter exponential backoff: a random delay in [0, min(max, base * 2^n)]. */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, baseMs * 2 ** failures);
}

/**
 * A session's answer as it streams. Read `text`, `status`, `attempt`; listen with
 * `onDelta` / `onText` / `onEnd`, or `for await (const delta of stream)`; `await
 * stream.result()` for the end. A delta with `restarted: true` means: drop what you showed,
 * a new attempt starts over (`onText` always hands the whole current text).
 */
export class TokenStream implements AsyncIterable<Delta> {
  readonly sessionId: string;
  readonly follow: boolean;
  readonly stats: StreamStats;
  /** The session as startStream / getSession last returned it. */
  session: Session | null = null;

  private readonly api: Api;
  private readonly transport: GraphQLTransport;
  private readonly options: Required<Omit<StreamOptions, "pageLimit">> & { pageLimit?: number };
  private readonly assembler: StreamAssembler;
  private readonly clock: () => number;
  private subscription: LiveSubscription | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private busy: Promise<void> = Promise.resolve();
  private lastProgress: number;
  private failedFetches = 0;
  private reconnecting = false;
  private started = false;
  private ended = false;
  private failure: TokencastError | null = null;
  private readonly deltaListeners = new Set<Listener<Delta>>();
  private readonly textListeners = new Set<Listener<string>>();
  private readonly endListeners = new Set<Listener<TokenStream>>();
  private readonly waiters = new Set<() => void>();

  constructor(
    sessionId: string,
    api: Api,
    transport: GraphQLTransport,
    options: StreamOptions = {},
    init: { startAttempt?: number; follow?: boolean; clock?: () => number } = {},
  ) {
    this.sessionId = sessionId;
    this.api = api;
    this.transport = transport;
    this.options = { ...DEFAULTS, ...stripUndefined(options) };
    this.follow = init.follow ?? false;
    this.clock = init.clock ?? (() => performance.now() / 1000);
    this.assembler = new StreamAssembler({
      sessionId,
      startAttempt: init.startAttempt ?? 0,
      gapGraceS: this.options.gapGraceMs / 1000,
      maxGapBackoffS: this.options.maxGapBackoffMs / 1000,
    });
    this.stats = {
      liveEvents: 0,
      malformedEvents: 0,
      catchUps: 0,
      idlePolls: 0,
      drops: 0,
      resubscribes: 0,
      reacks: 0,
      fetchFailures: 0,
      assembler: this.assembler.stats,
    };
    this.lastProgress = this.clock();
  }

  // -- state -------------------------------------------------------------------------------

  /** The current attempt's text so far. */
  get text(): string {
    return this.assembler.text;
  }
  get status(): SessionStatus | string {
    return this.assembler.status;
  }
  get attempt(): number {
    return this.assembler.attempt;
  }
  /** The current attempt's terminal event has been applied. */
  get done(): boolean {
    return this.assembler.done;
  }
  /** `[attempt, seq]` of the last event applied with nothing missing before it. */
  get position(): [number, number] {
    return this.assembler.cursor;
  }
  /** The session's error (FAILED), once known. */
  get error(): string | null {
    return this.assembler.error;
  }
  get usage(): Usage | null {
    return this.assembler.usage;
  }
  /** Whether the stream stopped listening (ended, failed or closed). */
  get closed(): boolean {
    return this.ended;
  }
  /** The client-side failure that ended the stream (lost connection, refused request). */
  get failedWith(): TokencastError | null {
    return this.failure;
  }

  // -- consuming ---------------------------------------------------------------------------

  /** Each delta as it is released; returns an unsubscribe function. */
  onDelta(listener: Listener<Delta>): () => void {
    this.deltaListeners.add(listener);
    return () => this.deltaListeners.delete(listener);
  }

  /** The whole current text after each change (a restart hands the new attempt's text). */
  onText(listener: Listener<string>): () => void {
    this.textListeners.add(listener);
    return () => this.textListeners.delete(listener);
  }

  /** Called once when the stream stops listening (ended, failed or closed). */
  onEnd(listener: Listener<TokenStream>): () => void {
    if (this.ended) {
      queueMicrotask(() => listener(this));
      return () => undefined;
    }
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /**
   * Wait for the end (the current attempt's terminal event). `check` rejects with
   * StreamFailed for FAILED; `afterAttempt` waits for a terminal event of a later attempt.
   */
  async result(opts: { check?: boolean; afterAttempt?: number } = {}): Promise<StreamResult> {
    for (;;) {
      const a = this.assembler;
      // a stream that ends with the terminal event resolves once it has stopped listening
      const settled = this.follow || this.ended;
      if (a.done && settled && (opts.afterAttempt === undefined || a.attempt > opts.afterAttempt)) {
        const result = a.result(this.sessionId);
        if (opts.check && result.status === "FAILED") throw new StreamFailed(result);
        return result;
      }
      if (this.failure) throw this.failure;
      if (this.ended) throw new ClientClosed(`stream ${this.sessionId} was closed before it ended`);
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delta> {
    const queue: Delta[] = [];
    let wake: (() => void) | null = null;
    const off = this.onDelta((d) => {
      queue.push(d);
      wake?.();
    });
    const offEnd = this.onEnd(() => wake?.());
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      if (this.failure) throw this.failure;
    } finally {
      off();
      offEnd();
    }
  }

  /** Stop listening: unsubscribe and end. Idempotent. */
  close(): void {
    this.finish();
  }

  /** Ask the server to stop this session (owner only); the stream then ends CANCELLED. */
  cancel(): Promise<Session> {
    return this.api.cancelStream(this.sessionId);
  }

  // -- driving (called by the client) --------------------------------------------------------

  /** Subscribe and wait for `start_ack`, retrying transient failures with backoff. */
  async attach(): Promise<void> {
    let failures = 0;
    for (;;) {
      try {
        await this.subscribeOnce();
        return;
      } catch (error) {
        const failure = error instanceof TokencastError ? error : new ConnectionLost(String(error));
        failures += 1;
        if (!isTransient(failure) || failures >= this.options.maxReconnectAttempts || this.ended) throw failure;
        await sleep(backoffMs(failures - 1, this.options.reconnectBaseMs, this.options.reconnectMaxMs));
      }
    }
  }

  /** Begin driving (after startStream, or after getSession for a late join). */
  begin(session: Session | null): void {
    this.session = session;
    this.started = true;
    this.lastProgress = this.clock();
    this.serially(() => this.tolerant(() => this.catchUp()));
  }

  // -- internals -----------------------------------------------------------------------------

  private subscribeOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let subscription: LiveSubscription | null = null;
      let acked = false;
      let settled = false;
      let closeWhenAssigned = false;
      const refuse = (error: TokencastError): void => {
        settled = true;
        clearTimeout(ackTimer);
        if (subscription) subscription.close();
        else closeWhenAssigned = true; // the transport failed inside subscribe()
        reject(error);
      };
      const ackTimer = setTimeout(() => {
        if (!settled) refuse(new ConnectionLost(`no start_ack for ${this.sessionId} within ${this.options.ackTimeoutMs} ms`));
      }, this.options.ackTimeoutMs);
      subscription = this.transport.subscribe(
        ON_TOKEN_RECEIVED,
        { sessionId: this.sessionId },
        {
          onAck: () => {
            if (!acked && !settled) {
              acked = true;
              settled = true;
              clearTimeout(ackTimer);
              this.subscription = subscription;
              resolve();
            } else if (acked && this.subscription === subscription && subscription !== null) {
              this.stats.reacks += 1; // the transport reconnected by itself: catch up on the hole
              this.serially(() => this.tolerant(() => this.catchUp()));
            }
          },
          onData: (data) => {
            if (subscription !== null && this.subscription === subscription) this.onLive(data);
          },
          onError: (error) => {
            if (!settled) refuse(error);
            else if (subscription !== null && this.subscription === subscription) void this.resubscribe(error);
          },
        },
      );
      if (closeWhenAssigned) subscription.close();
      // an ack delivered synchronously inside subscribe() found no subscription to keep
      if (acked && this.subscription === null && !this.ended) this.subscription = subscription;
    });
  }

  private onLive(data: unknown): void {
    if (this.ended) return;
    this.stats.liveEvents += 1;
    let event: TokenEvent;
    try {
      event = parseEvent(data);
    } catch {
      // The log still has it; the gap logic will fetch it. Never log the event: it holds answer text.
      this.stats.malformedEvents += 1;
      return;
    }
    const now = this.clock();
    this.lastProgress = now;
    this.emit(this.assembler.feed(event, now));
  }

  private emit(deltas: Delta[]): void {
    if (deltas.length > 0) {
      for (const d of deltas) for (const listener of this.deltaListeners) listener(d);
      const text = this.assembler.text;
      for (const listener of this.textListeners) listener(text);
    }
    this.wake();
    if (this.started && this.assembler.done && !this.follow) {
      this.finish();
    } else {
      this.schedule();
    }
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }

  /** Arm the one timer: the idle poll, or the gap fetch when that is due sooner. */
  private schedule(): void {
    if (this.ended || !this.started) return;
    if (this.timer !== null) clearTimeout(this.timer);
    let deadline = this.lastProgress + this.options.idlePollMs / 1000;
    const due = this.assembler.fetchDue();
    if (due !== null) deadline = Math.min(deadline, due);
    const waitMs = Math.max(0, (deadline - this.clock()) * 1000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.serially(() => this.onTimeout());
    }, waitMs);
  }

  private async onTimeout(): Promise<void> {
    const now = this.clock();
    const due = this.assembler.fetchDue();
    if (now >= this.lastProgress + this.options.idlePollMs / 1000) {
      await this.tolerant(() => this.idlePoll());
    } else if (due !== null && due <= now) {
      await this.tolerant(() => this.catchUp());
    }
  }

  /** Fetches run one at a time; a failure that is not transient ends the stream. */
  private serially(work: () => Promise<void>): void {
    this.busy = this.busy
      .then(async () => {
        if (this.ended) return;
        await work();
        if (!this.ended) this.emit([]);
      })
      .catch((error: unknown) => this.fail(error));
  }

  /** Read the log from the cursor to its end; true when the cursor moved. */
  private async catchUp(): Promise<boolean> {
    this.stats.catchUps += 1;
    const a = this.assembler;
    const start = `${a.cursor.join(":")}:${a.done}`;
    let [afterAttempt, afterSeq] = a.cursor;
    for (;;) {
      const page = await this.api.getEvents(this.sessionId, afterAttempt, afterSeq, this.options.pageLimit);
      if (this.ended) return false;
      const deltas = a.feedMany(page.items, this.clock());
      if (deltas.length > 0) this.emitDeltasOnly(deltas);
      if (page.nextAttempt === null || page.nextSeq === null) break;
      if (page.nextAttempt < afterAttempt || (page.nextAttempt === afterAttempt && page.nextSeq <= afterSeq)) break;
      [afterAttempt, afterSeq] = [page.nextAttempt, page.nextSeq];
    }
    a.noteFetched(this.clock());
    const progressed = `${a.cursor.join(":")}:${a.done}` !== start;
    if (progressed) this.lastProgress = this.clock();
    return progressed;
  }

  private emitDeltasOnly(deltas: Delta[]): void {
    for (const d of deltas) for (const listener of this.deltaListeners) listener(d);
    const text = this.assembler.text;
    for (const listener of this.textListeners) listener(text);
  }

  private async idlePoll(): Promise<void> {
    this.stats.idlePolls += 1;
    const progressed = await this.catchUp();
    if (!progressed && !this.assembler.done) {
      const session = await this.api.getSession(this.sessionId);
      if (session === null) throw new SessionNotFound(`session ${this.sessionId} not found`, "NotFound");
      this.session = session;
      // final, and the log (read again after the record) holds nothing more for us
      if (isFinal(session.status) && !(await this.catchUp())) {
        const deltas = this.assembler.settle(session);
        if (deltas.length > 0) this.emitDeltasOnly(deltas);
      }
    }
    this.lastProgress = this.clock();
  }

  private async resubscribe(error: TokencastError): Promise<void> {
    if (this.reconnecting || this.ended) return;
    this.reconnecting = true;
    this.stats.drops += 1;
    this.subscription?.close();
    this.subscription = null;
    try {
      let failures = 0;
      for (;;) {
        await sleep(backoffMs(failures, this.options.reconnectBaseMs, this.options.reconnectMaxMs));
        if (this.ended) return;
        try {
          await this.subscribeOnce();
          break;
        } catch (failure) {
          failures += 1;
          if (!isTransient(failure)) throw failure;
          if (failures >= this.options.maxReconnectAttempts) {
            const lost = new ConnectionLost(`stream ${this.sessionId}: could not resubscribe after ${failures} attempts`);
            (lost as { cause?: unknown }).cause = failure ?? error;
            throw lost;
          }
        }
        // keep the text moving over HTTP meanwhile
        this.serially(() => this.tolerant(() => this.catchUp()));
      }
      this.stats.resubscribes += 1;
      this.lastProgress = this.clock();
      this.serially(() => this.tolerant(() => this.catchUp())); // resume after the last contiguous event
    } catch (failure) {
      this.fail(failure);
    } finally {
      this.reconnecting = false;
    }
  }

  /**
   * Run a catch-up or poll; a transient failure is retried on the gap/idle schedule instead
   * of failing a stream whose socket may be fine -- until `maxReconnectAttempts` in a row.
   */
  private async tolerant(fetch: () => Promise<unknown>): Promise<void> {
    try {
      await fetch();
      this.failedFetches = 0;
    } catch (error) {
      if (!isTransient(error)) throw error;
      this.failedFetches += 1;
      this.stats.fetchFailures += 1;
      if (this.failedFetches >= this.options.maxReconnectAttempts) throw error;
      const now = this.clock();
      this.assembler.noteFetched(now);
      this.lastProgress = now;
    }
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    this.failure = error instanceof TokencastError ? error : new ConnectionLost(String(error));
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.subscription?.close();
    this.subscription = null;
    this.wake();
    for (const listener of this.endListeners) listener(this);
    this.endListeners.clear();
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
