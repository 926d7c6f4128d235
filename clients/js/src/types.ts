/**
 * The values the client hands out: events, deltas, sessions, pages, results.
 *
 * Built from the GraphQL wire shape by tolerant parsers on purpose: AppSync sends a
 * subscriber only the fields the triggering mutation selected, so optional fields may be
 * missing from live events. Mirrors tokencast/client/types.py; the object types themselves
 * (TokenEvent, Session, SessionSummary, Usage) are generated from its wire models.
 */

import { FINAL_STATUSES, STATUS_AFTER } from "./wire.generated.js";
import type { Session, SessionStatus, SessionSummary, TokenEvent, Usage } from "./wire.generated.js";

// The enums and the object types are generated from the Python side (`make generate`).
export { EVENT_TYPES, FINAL_STATUSES, SESSION_STATUSES, STATUS_AFTER, VISIBILITIES } from "./wire.generated.js";
export type { EventType, Session, SessionStatus, SessionSummary, TokenEvent, Usage, Visibility } from "./wire.generated.js";

/** @deprecated The same type under its old name: use `Session`, as the schema and the Python SDK name it. */
export type SessionInfo = Session;

/** What a stream yields: new text, or (`restarted`, empty text) "drop what you showed". */
export interface Delta {
  text: string;
  attempt: number;
  seq: number;
  restarted: boolean;
}

/** One page of `listSessions`: the caller's own sessions, newest first. */
export interface SessionPage {
  items: SessionSummary[];
  /** Pass to the next `listSessions` call; null on the last page. Opaque. */
  nextToken: string | null;
}

/** One page of `getEvents`: items in `(attempt, seq)` order, and where to go on. */
export interface EventPage {
  items: TokenEvent[];
  nextAttempt: number | null;
  nextSeq: number | null;
}

/** How a stream ended: the final attempt's whole text and the terminal event's details. */
export interface StreamResult {
  sessionId: string;
  status: SessionStatus | string;
  text: string;
  attempt: number;
  usage: Usage | null;
  stopReason: string | null;
  error: string | null;
}

export function isTerminal(event: Pick<TokenEvent, "type">): boolean {
  return event.type in STATUS_AFTER;
}

export function isFinal(status: string): boolean {
  return FINAL_STATUSES.has(status);
}

type Wire = Record<string, unknown>;

function isObject(value: unknown): value is Wire {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function int(value: unknown): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function usage(value: unknown): Usage | null {
  if (!isObject(value)) return null;
  const out: Usage = {};
  for (const key of ["inputTokens", "outputTokens", "totalTokens"] as const) {
    const v = value[key];
    if (v !== null && v !== undefined) out[key] = int(v);
  }
  return out;
}

/** A `TokenEvent` object from the wire; throws TypeError when identity fields are missing. */
export function parseEvent(data: unknown): TokenEvent {
  if (!isObject(data)) throw new TypeError("not a TokenEvent");
  const { sessionId, attempt, seq, type } = data;
  if (sessionId == null || attempt == null || seq == null || type == null) {
    throw new TypeError(`TokenEvent without sessionId/attempt/seq/type (fields: ${Object.keys(data).sort().join(", ")})`);
  }
  return {
    sessionId: String(sessionId),
    attempt: int(attempt),
    seq: int(seq),
    type: String(type),
    token: typeof data.token === "string" ? data.token : "",
    isComplete: Boolean(data.isComplete),
    stopReason: str(data.stopReason),
    usage: usage(data.usage),
    error: str(data.error),
    timestamp: str(data.timestamp),
    owner: str(data.owner),
    visibility: str(data.visibility),
  };
}

export function parseSession(data: unknown): Session {
  if (!isObject(data) || data.sessionId == null) throw new TypeError("not a Session");
  return {
    sessionId: String(data.sessionId),
    status: String(data.status),
    attempt: int(data.attempt),
    text: typeof data.text === "string" ? data.text : "",
    lastSeq: int(data.lastSeq),
    message: str(data.message),
    error: str(data.error),
    usage: usage(data.usage),
    stopReason: str(data.stopReason),
    modelId: str(data.modelId),
    visibility: str(data.visibility),
    owner: str(data.owner),
    timestamp: str(data.timestamp),
    createdAt: str(data.createdAt),
    updatedAt: str(data.updatedAt),
  };
}

export function parseSummary(data: unknown): SessionSummary {
  if (!isObject(data) || data.sessionId == null) throw new TypeError("not a SessionSummary");
  return {
    sessionId: String(data.sessionId),
    status: String(data.status),
    createdAt: str(data.createdAt),
    attempt: int(data.attempt),
    message: str(data.message),
    modelId: str(data.modelId),
    visibility: str(data.visibility),
    usage: usage(data.usage),
    stopReason: str(data.stopReason),
    error: str(data.error),
  };
}

export function parseSessionPage(data: unknown): SessionPage {
  if (!isObject(data)) throw new TypeError("not a SessionPage");
  return {
    items: Array.isArray(data.items) ? data.items.map(parseSummary) : [],
    nextToken: typeof data.nextToken === "string" ? data.nextToken : null,
  };
}

export function parsePage(data: unknown): EventPage {
  if (!isObject(data)) throw new TypeError("not an EventPage");
  const items = Array.isArray(data.items) ? data.items.map(parseEvent) : [];
  return {
    items,
    nextAttempt: data.nextAttempt == null ? null : int(data.nextAttempt),
    nextSeq: data.nextSeq == null ? null : int(data.nextSeq),
  };
}

/** Compare `(attempt, seq)` keys. */
export function compareKeys(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}
