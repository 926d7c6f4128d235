/** The console: header (who you are), the page for the route, and "My sessions" beside it. */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { StartInput, TokenStream, TokencastClient } from "@tokencast/client";

import { loadConfig, forgetCloudConfig } from "../config.js";
import { Connection } from "../connection.js";
import type { Identity } from "../connection.js";
import { navigate, sessionPath, useRoute } from "../router.js";
import { ConnectForm } from "./ConnectForm.js";
import { DlqPanel } from "./DlqPanel.js";
import { PromptForm } from "./PromptForm.js";
import { SessionList } from "./SessionList.js";
import { SessionView } from "./SessionView.js";
import { SignIn } from "./SignIn.js";

interface Started {
  stream: TokenStream;
  submittedAt: number;
}

function Link({ to, children }: { to: string; children: React.ReactNode }) {
  return (
    <a
      href={to}
      onClick={(e) => {
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function App() {
  const [connection, setConnection] = useState<Connection | null | undefined>(undefined);
  const [identity, setIdentity] = useState<Identity | null | undefined>(undefined);

  useEffect(() => {
    void loadConfig().then(async (config) => {
      if (config === null) {
        setConnection(null);
        return;
      }
      const made = new Connection(config);
      setConnection(made);
      setIdentity(await made.restore());
    });
  }, []);

  if (connection === undefined) return <p className="muted">Loading…</p>;
  if (connection === null)
    return (
      <Shell>
        <ConnectForm />
      </Shell>
    );
  if (identity === undefined) return <p className="muted">Signing in…</p>;
  if (identity === null)
    return (
      <Shell>
        <SignIn connection={connection} onSignedIn={setIdentity} />
      </Shell>
    );
  return (
    <SignedIn
      connection={connection}
      identity={identity}
      onSignOut={() => void connection.signOut(identity).then(() => setIdentity(null))}
    />
  );
}

function Shell({ children, right }: { children: React.ReactNode; right?: React.ReactNode }) {
  return (
    <div className="app">
      <header className="top">
        <h1>
          <Link to="/">tokencast</Link> <span className="muted">console</span>
        </h1>
        <div className="who">{right}</div>
      </header>
      {children}
    </div>
  );
}

function SignedIn({ connection, identity, onSignOut }: { connection: Connection; identity: Identity; onSignOut: () => void }) {
  const route = useRoute();
  const client: TokencastClient = useMemo(() => connection.client(identity), [connection, identity]);
  const started = useRef(new Map<string, Started>());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);
  const bump = useCallback(() => setRefresh((n) => n + 1), []);

  useEffect(() => () => client.close(), [client]);

  const submit = async (input: StartInput): Promise<void> => {
    setBusy(true);
    setError(null);
    const submittedAt = performance.now();
    try {
      const stream = await client.stream(input);
      started.current.set(stream.sessionId, { stream, submittedAt });
      navigate(sessionPath(stream.sessionId));
      bump();
    } catch (failure) {
      setError(String((failure as Error).message ?? failure));
    } finally {
      setBusy(false);
    }
  };

  const sessionId = route.page === "session" ? route.sessionId : null;
  // A stream this tab started is shown while it is still listening; once it ended or was
  // left (closed), the session is watched afresh, which reads it from the API.
  const entry = sessionId !== null ? started.current.get(sessionId) : undefined;
  const mine = entry !== undefined && !entry.stream.closed ? entry : null;

  return (
    <Shell
      right={
        <>
          <nav>
            <Link to="/">New stream</Link>
            {connection.local ? <Link to="/dlq">Failed jobs</Link> : null}
          </nav>
          <span data-testid="signed-in-as">
            {identity.kind === "apiKey" ? "API key" : `signed in as ${identity.label}`}
          </span>
          <button type="button" className="secondary" onClick={onSignOut}>
            Sign out
          </button>
          {connection.config.mode === "cloud" ? (
            <button
              type="button"
              className="secondary"
              onClick={() => {
                forgetCloudConfig();
                window.location.reload();
              }}
            >
              Disconnect
            </button>
          ) : null}
        </>
      }
    >
      <main className="main">
        <div className="page">
          {route.page === "new" ? (
            <>
              <PromptForm onSubmit={(input) => void submit(input)} busy={busy} />
              {error ? (
                <p className="error" role="alert" data-testid="start-error">
                  {error}
                </p>
              ) : null}
            </>
          ) : null}
          {route.page === "session" && sessionId !== null ? (
            <SessionView
              key={sessionId}
              client={client}
              identity={identity}
              sessionId={sessionId}
              started={mine?.stream ?? null}
              submittedAt={mine?.submittedAt ?? null}
              onSettled={bump}
            />
          ) : null}
          {route.page === "dlq" && connection.local ? <DlqPanel local={connection.local} /> : null}
        </div>
        <SessionList client={client} refresh={refresh} current={sessionId} />
      </main>
    </Shell>
  );
}
