/**
 * Figures of one session, from its stored event log (the same for every viewer, live or late):
 * time to first token, tokens per second, events published against tokens received (what
 * coalescing saved), and usage.
 */
import type { Session, TokenEvent, TokencastClient, Usage } from "@tokencast/client";

export interface Figures {
  attempt: number;
  /** startStream (session created) → first non-empty TOKEN event of the final attempt. */
  timeToFirstTokenMs: number | null;
  /** Output tokens over the time from the first token to the terminal event. */
  tokensPerSecond: number | null;
  /** Events of the final attempt: each was one publishToken mutation. */
  eventsPublished: number;
  /** TOKEN events among them. */
  tokenEvents: number;
  /** The model's output tokens (usage), once the session ended. */
  tokensReceived: number | null;
  usage: Usage | null;
}

function ms(timestamp: string | null | undefined): number | null {
  if (!timestamp) return null;
  const value = Date.parse(timestamp);
  return Number.isNaN(value) ? null : value;
}

/** Pure: the figures of `session` from the events of its final attempt. */
export function figuresOf(session: Pick<Session, "attempt" | "createdAt" | "usage">, events: TokenEvent[]): Figures {
  const mine = events.filter((e) => e.attempt === session.attempt);
  const firstToken = mine.find((e) => e.type === "TOKEN" && e.token.length > 0);
  const terminal = mine.find((e) => e.isComplete);
  const usage = terminal?.usage ?? session.usage ?? null;
  const created = ms(session.createdAt);
  const first = ms(firstToken?.timestamp);
  const end = ms(terminal?.timestamp);
  const output = usage?.outputTokens ?? null;
  const seconds = first !== null && end !== null ? (end - first) / 1000 : null;
  return {
    attempt: session.attempt,
    timeToFirstTokenMs: created !== null && first !== null ? first - created : null,
    tokensPerSecond: output !== null && seconds !== null && seconds > 0 ? output / seconds : null,
    eventsPublished: mine.length,
    tokenEvents: mine.filter((e) => e.type === "TOKEN").length,
    tokensReceived: output,
    usage,
  };
}

/** Every stored event of the session's current attempt (paging through getEvents). */
export async function attemptEvents(client: TokencastClient, sessionId: string, attempt: number): Promise<TokenEvent[]> {
  const events: TokenEvent[] = [];
  let cursor: [number, number] = [attempt, 0];
  for (;;) {
    const page = await client.getEvents(sessionId, cursor[0], cursor[1]);
    events.push(...page.items.filter((e) => e.attempt === attempt));
    if (page.nextAttempt === null || page.nextSeq === null) return events;
    cursor = [page.nextAttempt, page.nextSeq];
  }
}
