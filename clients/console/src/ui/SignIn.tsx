/**
 * Sign in: as a local user (the local JWT issuer, like `tokencast token --user`), with the
 * API key, or -- against a deployed stack -- as a Cognito user through Amplify Auth.
 */
import { useState } from "react";

import type { Connection, Identity } from "../connection.js";

export function SignIn({ connection, onSignedIn }: { connection: Connection; onSignedIn: (identity: Identity) => void }) {
  const offers = connection.offers;
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);

  const attempt = async (sign: () => Promise<Identity>): Promise<void> => {
    setError(null);
    try {
      onSignedIn(await sign());
    } catch (failure) {
      setError(String((failure as Error).message ?? failure));
    }
  };

  return (
    <section className="signin">
      <h2>Sign in</h2>
      {offers.localUser ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(() => connection.signInLocal(user.trim()));
          }}
        >
          <p className="muted">
            The local stack's JWT issuer signs you in as any user name (a stand-in for Cognito; `tokencast token --user NAME` does
            the same on the command line).
          </p>
          <label>
            User name
            <input name="user" value={user} onChange={(e) => setUser(e.target.value)} placeholder="alice" required />
          </label>
          <button type="submit">Sign in as this user</button>
        </form>
      ) : null}
      {offers.cognito ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(() => connection.signInCognito(user.trim(), password));
          }}
        >
          <p className="muted">Cognito user of the stack's user pool.</p>
          <label>
            User name
            <input name="username" value={user} onChange={(e) => setUser(e.target.value)} required />
          </label>
          <label>
            Password
            <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </label>
          <button type="submit">Sign in</button>
        </form>
      ) : null}
      {offers.apiKey ? (
        <p>
          <button type="button" className="secondary" onClick={() => void attempt(() => connection.useApiKey())} data-testid="use-api-key">
            Use the API key
          </button>{" "}
          <span className="muted">(no user: sessions visible to API-key callers only)</span>
        </p>
      ) : null}
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}
