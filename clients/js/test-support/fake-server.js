// An in-memory fake of tokencast's API (event log + live delivery) behind the client's
// GraphQLTransport interface, shared by the stream tests and the React hook's tests. It lives
// outside test/ because Node's test runner runs every file under a test/ folder.
import { ConnectionLost } from "../dist/index.js";

/** Stream options that keep the tests quick: short grace periods and backoffs. */
export const FAST = { gapGraceMs: 20, maxGapBackoffMs: 100, idlePollMs: 200, reconnectBaseMs: 5, reconnectMaxMs: 20, ackTimeoutMs: 2000 };

/** One attempt's events: STARTED (or RESTARTED), one TOKEN per token, then the terminal event unless null. */
export function attempt(sessionId, n, tokens, terminal = "COMPLETED") {
  const events = [{ sessionId, attempt: n, seq: 1, type: n === 1 ? "STARTED" : "RESTARTED", token: "", isComplete: false }];
  tokens.forEach((t, i) => events.push({ sessionId, attempt: n, seq: i + 2, type: "TOKEN", token: t, isComplete: false }));
  if (terminal) events.push({ sessionId, attempt: n, seq: tokens.length + 2, type: terminal, token: "", isComplete: true });
  return events;
}

/** A fake tokencast: startStream stores nothing by itself; tests publish events by hand. */
export class FakeServer {
  constructor() {
    this.log = new Map();
    this.sessions = new Map();
    this.subscribers = new Set();
    this.calls = [];
    this.acked = [];
    this.dropRule = () => false;
  }
  publish(event, { live = true, store = true } = {}) {
    if (store) {
      const events = this.log.get(event.sessionId) ?? [];
      events.push(event);
      this.log.set(event.sessionId, events);
    }
    if (live) for (const s of this.subscribers) if (s.sessionId === event.sessionId && !this.dropRule(event)) s.handlers.onData(event);
  }
  transport() {
    return {
      request: async (document, variables) => {
        const op = /(startStream|cancelStream|getSession|getEvents)/.exec(document)[1];
        this.calls.push({ op, variables, subscribed: [...this.subscribers].map((s) => s.sessionId) });
        if (op === "startStream") {
          if (variables.prompt === "quota") throw { errors: [{ errorType: "Quota", message: "prompt: over quota" }] };
          const sessionId = variables.input.sessionId;
          const session = { sessionId, status: "QUEUED", attempt: 0, text: "", lastSeq: 0 };
          this.sessions.set(sessionId, session);
          this.onStart?.(sessionId);
          return { startStream: session };
        }
        if (op === "getSession") return { getSession: this.sessions.get(variables.sessionId) ?? null };
        if (op === "cancelStream") return { cancelStream: { ...this.sessions.get(variables.sessionId), status: "CANCELLED" } };
        const all = (this.log.get(variables.sessionId) ?? []).slice().sort((a, b) => a.attempt - b.attempt || a.seq - b.seq);
        const items = all.filter((e) => e.attempt > variables.afterAttempt || (e.attempt === variables.afterAttempt && e.seq > variables.afterSeq));
        return { getEvents: { items, nextAttempt: null, nextSeq: null } };
      },
      subscribe: (document, variables, handlers) => {
        const entry = { sessionId: variables.sessionId, handlers };
        this.subscribers.add(entry);
        queueMicrotask(() => {
          this.acked.push(variables.sessionId);
          handlers.onAck();
        });
        return { close: () => this.subscribers.delete(entry) };
      },
    };
  }
  drop(sessionId) {
    for (const s of [...this.subscribers]) {
      if (s.sessionId === sessionId) {
        this.subscribers.delete(s);
        s.handlers.onError(new ConnectionLost("socket closed"));
      }
    }
  }
}
