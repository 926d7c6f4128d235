/**
 * The reassembly state machine: events in any order, duplicated or missing → the final text.
 *
 * A line-by-line port of tokencast/client/assembler.py; both pass the same shared vectors
 * (tests/vectors/assembler.json), so the browser and Python show the same text for the same
 * deliveries. Pure and synchronous: no I/O, no clock of its own (callers pass `now`, seconds).
 *
 * - events are ordered by `(attempt, seq)`; `seq` starts at 1 per attempt, without gaps;
 * - only the highest attempt seen counts: on a higher attempt the text of lower ones is
 *   dropped (a restart Delta tells the consumer to drop what it showed), late events of lower
 *   attempts are ignored;
 * - an event at or below the applied position, or already buffered, is a duplicate;
 * - an event beyond the next expected `seq` waits in a buffer, and the hole is a gap, due to
 *   be fetched after a grace window (at once when the terminal event is already buffered),
 *   then again with backoff while it persists;
 * - the stream is done when the terminal event of the current attempt has been applied.
 */
import { STATUS_AFTER, isFinal, isTerminal } from "./types.js";
import type { Delta, Session, SessionStatus, StreamResult, TokenEvent, Usage } from "./types.js";

export const DEFAULT_GAP_GRACE_S = 0.25;
export const DEFAULT_MAX_GAP_BACKOFF_S = 4.0;

export interface AssemblerStats {
  applied: number;
  duplicates: number;
  stale: number;
  foreign: number;
  beyondTerminal: number;
  restarts: number;
  settled: number;
}

export interface AssemblerOptions {
  /** Ignore other sessions' events. */
  sessionId?: string | null;
  /** Ignore attempts below it (a late joiner need not replay superseded attempts). */
  startAttempt?: number;
  gapGraceS?: number;
  maxGapBackoffS?: number;
}

function delta(text: string, attempt: number, seq: number, restarted = false): Delta {
  return { text, attempt, seq, restarted };
}

export class StreamAssembler {
  readonly sessionId: string | null;
  readonly gapGraceS: number;
  readonly maxGapBackoffS: number;
  readonly stats: AssemblerStats = {
    applied: 0,
    duplicates: 0,
    stale: 0,
    foreign: 0,
    beyondTerminal: 0,
    restarts: 0,
    settled: 0,
  };
  private _attempt: number;
  private _seq = 0;
  private _pending = new Map<number, TokenEvent>();
  private _parts: string[] = [];
  private _textCache: string | null = "";
  private _shown = false;
  private _done = false;
  private _status: SessionStatus | string = "QUEUED";
  private _usage: Usage | null = null;
  private _stopReason: string | null = null;
  private _error: string | null = null;
  private _gapSince: number | null = null;
  private _gapFetches = 0;

  constructor(options: AssemblerOptions = {}) {
    this.sessionId = options.sessionId ?? null;
    this._attempt = options.startAttempt ?? 0;
    this.gapGraceS = options.gapGraceS ?? DEFAULT_GAP_GRACE_S;
    this.maxGapBackoffS = options.maxGapBackoffS ?? DEFAULT_MAX_GAP_BACKOFF_S;
  }

  // -- reading -----------------------------------------------------------------------------

  /** The attempt being assembled: the highest seen (or `startAttempt`). */
  get attempt(): number {
    return this._attempt;
  }

  /** `(attempt, seq)` of the last event applied without a gap before it: fetch after it. */
  get cursor(): [number, number] {
    return [this._attempt, this._seq];
  }

  /** The current attempt's text so far (contiguous part only). */
  get text(): string {
    if (this._textCache === null) this._textCache = this._parts.join("");
    return this._textCache;
  }

  get status(): SessionStatus | string {
    return this._status;
  }

  /** The current attempt's terminal event is applied (nothing before it is missing). */
  get done(): boolean {
    return this._done;
  }

  get hasGap(): boolean {
    return this._pending.size > 0;
  }

  /** The first missing `(attempt, seq)` when there is a gap. */
  get missing(): [number, number] | null {
    return this._pending.size > 0 ? [this._attempt, this._seq + 1] : null;
  }

  get usage(): Usage | null {
    return this._usage;
  }

  get stopReason(): string | null {
    return this._stopReason;
  }

  get error(): string | null {
    return this._error;
  }

  result(sessionId?: string): StreamResult {
    return {
      sessionId: sessionId ?? this.sessionId ?? "",
      status: this._status,
      text: this.text,
      attempt: this._attempt,
      usage: this._usage,
      stopReason: this._stopReason,
      error: this._error,
    };
  }

  // -- gaps --------------------------------------------------------------------------------

  /** When (in the caller's clock) the current gap should be fetched; null without a gap. */
  fetchDue(): number | null {
    if (this._gapSince === null) return null;
    if (this._gapFetches === 0) {
      const urgent = [...this._pending.values()].some(isTerminal);
      return this._gapSince + (urgent ? 0 : this.gapGraceS);
    }
    return this._gapSince + Math.min(this.gapGraceS * 2 ** this._gapFetches, this.maxGapBackoffS);
  }

  /** The caller fetched from `cursor` to the end of the log; a gap still open backs off. */
  noteFetched(now: number): void {
    if (this._pending.size > 0) {
      this._gapSince = now;
      this._gapFetches += 1;
    } else {
      this._gapSince = null;
      this._gapFetches = 0;
    }
  }

  // -- feeding -----------------------------------------------------------------------------

  feedMany(events: Iterable<TokenEvent>, now: number): Delta[] {
    const deltas: Delta[] = [];
    for (const event of events) deltas.push(...this.feed(event, now));
    return deltas;
  }

  /** Take one event from anywhere (live or catch-up); return the deltas it releases. */
  feed(event: TokenEvent, now: number): Delta[] {
    if (this.sessionId !== null && event.sessionId !== this.sessionId) {
      this.stats.foreign += 1;
      return [];
    }
    if (event.attempt < this._attempt) {
      this.stats.stale += 1;
      return [];
    }
    const deltas: Delta[] = [];
    if (event.attempt > this._attempt) deltas.push(...this.beginAttempt(event.attempt));
    if (event.seq <= this._seq || this._pending.has(event.seq)) {
      this.stats.duplicates += 1;
      return deltas;
    }
    if (this._done) {
      this.stats.beyondTerminal += 1;
      return deltas;
    }
    this._pending.set(event.seq, event);
    for (;;) {
      if (this._done) break;
      const following = this._pending.get(this._seq + 1);
      if (following === undefined) break;
      this._pending.delete(this._seq + 1);
      deltas.push(...this.apply(following));
    }
    if (this._done && this._pending.size > 0) {
      this.stats.beyondTerminal += this._pending.size;
      this._pending.clear();
    }
    this.trackGap(now);
    return deltas;
  }

  /**
   * Finish from the session record: the backstop for a final session whose event log holds
   * nothing more for us. Call only when `session` is final and a catch-up from `cursor`
   * found nothing. A record of a lower attempt than ours is stale and ignored.
   */
  settle(session: Session): Delta[] {
    if (!isFinal(session.status) || session.attempt < this._attempt) return [];
    const deltas: Delta[] = [];
    if (session.attempt > this._attempt) deltas.push(...this.beginAttempt(session.attempt));
    const current = this.text;
    if (session.text !== current) {
      const seq = Math.max(session.lastSeq, this._seq);
      if (session.text.startsWith(current)) {
        deltas.push(delta(session.text.slice(current.length), this._attempt, seq));
      } else {
        if (this._shown) {
          deltas.push(delta("", this._attempt, 0, true));
          this.stats.restarts += 1;
        }
        if (session.text) deltas.push(delta(session.text, this._attempt, seq));
      }
      this._parts = [session.text];
      this._textCache = session.text;
      this._shown = this._shown || Boolean(session.text);
    }
    this._seq = Math.max(this._seq, session.lastSeq);
    this._pending.clear();
    this.trackGap(0);
    this._done = true;
    this._status = session.status;
    this._usage = session.usage;
    this._stopReason = session.stopReason;
    this._error = session.error;
    this.stats.settled += 1;
    return deltas;
  }

  // -- internals ---------------------------------------------------------------------------

  private beginAttempt(attempt: number): Delta[] {
    const restart = this._shown;
    this._attempt = attempt;
    this._seq = 0;
    this._pending.clear();
    this._parts = [];
    this._textCache = "";
    this._shown = false;
    this._done = false;
    this._status = "STREAMING";
    this._usage = this._stopReason = this._error = null;
    this._gapSince = null;
    this._gapFetches = 0;
    if (restart) {
      this.stats.restarts += 1;
      return [delta("", attempt, 0, true)];
    }
    return [];
  }

  private apply(event: TokenEvent): Delta[] {
    this._seq = event.seq;
    this.stats.applied += 1;
    const deltas: Delta[] = [];
    if (event.token) {
      this._parts.push(event.token);
      this._textCache = null;
      this._shown = true;
      deltas.push(delta(event.token, event.attempt, event.seq));
    }
    const after = STATUS_AFTER[event.type];
    if (isTerminal(event) && after !== undefined) {
      this._done = true;
      this._status = after;
      this._usage = event.usage;
      this._stopReason = event.stopReason;
      this._error = event.error;
    } else {
      this._status = "STREAMING";
    }
    return deltas;
  }

  private trackGap(now: number): void {
    if (this._pending.size === 0) {
      this._gapSince = null;
      this._gapFetches = 0;
    } else if (this._gapSince === null) {
      this._gapSince = now;
    }
  }
}
