/**
 * One session at `/s/<sessionId>`: its text growing live (or finished), status, attempt
 * restarts as they happen, cancel (owner only, the stopped text stays), and its figures.
 *
 * The stream comes from the TS client: the one this tab just started, or `watch()` for a
 * session opened by URL (another tab, another user of a SHARED session). A session the
 * viewer may not read is reported without content: the API answers "not found" for both
 * private and missing sessions, so the page cannot tell them apart either.
 */
import { useEffect, useRef, useState } from "react";
import { SessionNotFound } from "@tokencast/client";
import type { TokenStream, TokencastClient } from "@tokencast/client";

import { attemptEvents, figuresOf } from "../figures.js";
import type { Figures } from "../figures.js";
import type { Identity } from "../connection.js";
import { FiguresPanel } from "./FiguresPanel.js";

interface Props {
  client: TokencastClient;
  identity: Identity;
  sessionId: string;
  /** The stream this tab started, if it did (else the view watches the session). */
  started: TokenStream | null;
  /** Submitted at (performance.now()), for this browser's own time to first text. */
  submittedAt: number | null;
  onSettled: () => void;
}

interface View {
  text: string;
  status: string;
  attempt: number;
  error: string | null;
  done: boolean;
}

type Load = { state: "loading" } | { state: "hidden" } | { state: "failed"; message: string } | { state: "live"; stream: TokenStream };

export function SessionView({ client, identity, sessionId, started: offered, submittedAt, onSettled }: Props) {
  // Adopted once, when the view mounts (it is keyed by session): a stream that ends later
  // stays on the page rather than being swapped for a fresh watch.
  const [started] = useState(offered);
  const [load, setLoad] = useState<Load>(started ? { state: "live", stream: started } : { state: "loading" });
  const [view, setView] = useState<View | null>(null);
  const [restarts, setRestarts] = useState<number[]>([]);
  const [firstTextMs, setFirstTextMs] = useState<number | null>(null);
  const [figures, setFigures] = useState<Figures | null>(null);
  const [cancelState, setCancelState] = useState<string | null>(null);
  // Read through refs so a parent's re-render does not re-attach the stream's listeners.
  const settled = useRef(onSettled);
  settled.current = onSettled;
  const submitted = useRef(submittedAt);
  submitted.current = submittedAt;

  // Open (or adopt) the stream; close it when leaving the page.
  useEffect(() => {
    let stream: TokenStream | null = started;
    let gone = false;
    setView(null);
    setRestarts([]);
    setFigures(null);
    setFirstTextMs(null);
    setCancelState(null);
    if (started) setLoad({ state: "live", stream: started });
    else {
      setLoad({ state: "loading" });
      client.watch(sessionId).then(
        (watched) => {
          if (gone) watched.close();
          else {
            stream = watched;
            setLoad({ state: "live", stream: watched });
          }
        },
        (error: unknown) => {
          if (gone) return;
          if (error instanceof SessionNotFound) setLoad({ state: "hidden" });
          else setLoad({ state: "failed", message: String((error as Error).message ?? error) });
        },
      );
    }
    return () => {
      gone = true;
      stream?.close();
    };
  }, [client, sessionId, started]);

  // Follow the stream's state.
  useEffect(() => {
    if (load.state !== "live") return;
    const stream = load.stream;
    const update = (): void =>
      setView({ text: stream.text, status: String(stream.status), attempt: stream.attempt, error: stream.error, done: stream.done });
    const offText = stream.onText((text) => {
      const at = submitted.current;
      if (text.length > 0 && at !== null) setFirstTextMs((seen) => seen ?? performance.now() - at);
      update();
    });
    const offDelta = stream.onDelta((delta) => {
      if (delta.restarted) setRestarts((seen) => (seen.includes(delta.attempt) ? seen : [...seen, delta.attempt]));
      update();
    });
    const offEnd = stream.onEnd(() => {
      update();
      settled.current();
      if (!stream.done) return;
      const session = stream.session;
      attemptEvents(client, stream.sessionId, stream.attempt).then(
        (events) =>
          setFigures(
            figuresOf({ attempt: stream.attempt, createdAt: session?.createdAt ?? null, usage: stream.usage }, events),
          ),
        () => setFigures(null),
      );
    });
    update();
    return () => {
      offText();
      offDelta();
      offEnd();
    };
  }, [load, client]);

  if (load.state === "loading") return <p className="muted">Opening session {sessionId}…</p>;
  if (load.state === "hidden")
    return (
      <section className="notice" data-testid="private-notice">
        <h2>Session not available</h2>
        <p>
          Session <code>{sessionId}</code> is private to its owner, or does not exist. Only its owner can read a private session;
          anyone signed in can watch a SHARED one.
        </p>
      </section>
    );
  if (load.state === "failed")
    return (
      <p className="error" role="alert">
        Could not open the session: {load.message}
      </p>
    );

  const stream = load.stream;
  const session = stream.session;
  const isOwner = session?.owner === identity.principal;
  const link = `${window.location.origin}/s/${encodeURIComponent(sessionId)}`;
  const cancel = async (): Promise<void> => {
    setCancelState("cancelling…");
    try {
      await stream.cancel();
      setCancelState("cancel requested");
    } catch (error) {
      setCancelState(`cancel refused: ${String((error as Error).message ?? error)}`);
    }
  };

  return (
    <section className="session">
      <header className="session-head">
        <span className={`status status-${(view?.status ?? "").toLowerCase()}`} data-testid="status">
          {view?.status ?? "…"}
        </span>
        <span data-testid="attempt">attempt {view?.attempt ?? 0}</span>
        <span className="muted">{session?.visibility ?? ""}</span>
        {session?.modelId ? <span className="muted">{session.modelId}</span> : null}
        {isOwner && view && !view.done ? (
          <button type="button" className="danger" onClick={() => void cancel()} data-testid="cancel">
            Cancel
          </button>
        ) : null}
        {cancelState ? <span className="muted" data-testid="cancel-state">{cancelState}</span> : null}
      </header>
      <p className="share">
        Session link: <a href={link} data-testid="session-link">{link}</a>
      </p>
      {restarts.length > 0 ? (
        <ul className="restarts" data-testid="restarts">
          {restarts.map((attempt) => (
            <li key={attempt}>attempt {attempt} restarted the answer (a transient failure; the text starts over)</li>
          ))}
        </ul>
      ) : null}
      <pre className="answer" data-testid="answer">
        {view?.text ?? ""}
      </pre>
      {view?.error ? (
        <p className="error" data-testid="session-error">
          {view.error}
        </p>
      ) : null}
      {view?.done ? (
        <p className="muted" data-testid="ended">
          ended {view.status}
        </p>
      ) : null}
      <FiguresPanel figures={figures} firstTextMs={firstTextMs} />
    </section>
  );
}
