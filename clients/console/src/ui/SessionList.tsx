/** "My sessions": listSessions, newest first, a page at a time ("More" follows nextToken). */
import { useCallback, useEffect, useState } from "react";
import type { SessionSummary, TokencastClient } from "@tokencast/client";

import { navigate, sessionPath } from "../router.js";
import { listSessions } from "../sessions.js";

const PAGE = 10;

export function SessionList({ client, refresh, current }: { client: TokencastClient; refresh: number; current: string | null }) {
  const [items, setItems] = useState<SessionSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let gone = false;
    listSessions(client, PAGE, null).then(
      (page) => {
        if (gone) return;
        setItems(page.items);
        setNext(page.nextToken);
        setError(null);
      },
      (failure: unknown) => !gone && setError(String((failure as Error).message ?? failure)),
    );
    return () => {
      gone = true;
    };
  }, [client, refresh]);

  const more = useCallback(async () => {
    if (next === null) return;
    try {
      const page = await listSessions(client, PAGE, next);
      setItems((seen) => [...seen, ...page.items]);
      setNext(page.nextToken);
    } catch (failure) {
      setError(String((failure as Error).message ?? failure));
    }
  }, [client, next]);

  return (
    <aside className="sessions">
      <h2>My sessions</h2>
      {error ? <p className="error">{error}</p> : null}
      {items.length === 0 && !error ? <p className="muted">None yet.</p> : null}
      <ol data-testid="session-list">
        {items.map((s) => (
          <li key={s.sessionId} className={s.sessionId === current ? "current" : ""} data-testid="session-row" data-session-id={s.sessionId}>
            <a
              href={sessionPath(s.sessionId)}
              onClick={(event) => {
                event.preventDefault();
                navigate(sessionPath(s.sessionId));
              }}
            >
              <span className={`status status-${s.status.toLowerCase()}`}>{s.status}</span>{" "}
              <time dateTime={s.createdAt ?? ""}>{s.createdAt ? new Date(s.createdAt).toLocaleString() : ""}</time>
            </a>
            <div className="muted small">
              {s.visibility} · {s.usage?.outputTokens ?? "–"} tokens{s.attempt > 1 ? ` · ${s.attempt} attempts` : ""}
            </div>
          </li>
        ))}
      </ol>
      {next !== null ? (
        <button type="button" onClick={() => void more()} data-testid="more-sessions">
          More
        </button>
      ) : null}
    </aside>
  );
}
