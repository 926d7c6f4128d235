/**
 * `useTokenStream(client)`: a session's text as React state.
 *
 * ```tsx
 * const { text, status, start, cancel } = useTokenStream(tokencast);
 * <button onClick={() => start({ prompt })}>Ask</button> <p>{text}</p>
 * ```
 *
 * `start(input)` streams a new session, `watch(sessionId)` joins one; either replaces the
 * stream the hook was showing (which is closed), and unmounting closes it.
 */
import { useCallback, useEffect, useRef, useState } from "react";

import type { StreamRequest, TokencastClient } from "./client.js";
import type { TokencastError } from "./errors.js";
import type { TokenStream } from "./stream.js";
import type { SessionStatus } from "./types.js";

export interface TokenStreamState {
  sessionId: string | null;
  text: string;
  status: SessionStatus | string | null;
  attempt: number;
  /** The session's own error (FAILED), once known. */
  error: string | null;
  /** A client-side failure: refused request, lost connection. */
  failure: TokencastError | null;
  done: boolean;
}

export interface UseTokenStream extends TokenStreamState {
  start(request: StreamRequest): Promise<TokenStream | null>;
  watch(sessionId: string, opts?: { follow?: boolean }): Promise<TokenStream | null>;
  cancel(): Promise<void>;
  stream: TokenStream | null;
}

const IDLE: TokenStreamState = {
  sessionId: null,
  text: "",
  status: null,
  attempt: 0,
  error: null,
  failure: null,
  done: false,
};

function snapshot(stream: TokenStream): TokenStreamState {
  return {
    sessionId: stream.sessionId,
    text: stream.text,
    status: stream.status,
    attempt: stream.attempt,
    error: stream.error,
    failure: stream.failedWith,
    done: stream.done,
  };
}

export function useTokenStream(client: TokencastClient): UseTokenStream {
  const [state, setState] = useState<TokenStreamState>(IDLE);
  const current = useRef<TokenStream | null>(null);

  const follow = useCallback((stream: TokenStream): TokenStream => {
    current.current?.close();
    current.current = stream;
    const update = (): void => {
      if (current.current === stream) setState(snapshot(stream));
    };
    stream.onText(update);
    stream.onEnd(update);
    update();
    return stream;
  }, []);

  const run = useCallback(
    async (open: () => Promise<TokenStream>): Promise<TokenStream | null> => {
      current.current?.close();
      current.current = null;
      setState(IDLE);
      try {
        return follow(await open());
      } catch (error) {
        setState({ ...IDLE, failure: error as TokencastError });
        return null;
      }
    },
    [follow],
  );

  const start = useCallback((request: StreamRequest) => run(() => client.stream(request)), [client, run]);
  const watch = useCallback(
    (sessionId: string, opts?: { follow?: boolean }) => run(() => client.watch(sessionId, opts)),
    [client, run],
  );
  const cancel = useCallback(async (): Promise<void> => {
    const stream = current.current;
    if (stream) await stream.cancel();
  }, []);

  useEffect(() => () => current.current?.close(), []);

  return { ...state, start, watch, cancel, stream: current.current };
}
