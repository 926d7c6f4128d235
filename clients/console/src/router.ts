/** Paths the console answers: `/` (new stream), `/s/<sessionId>` (one session), `/dlq` (failed jobs). */
import { useEffect, useState } from "react";

export type Route = { page: "new" } | { page: "session"; sessionId: string } | { page: "dlq" };

export function parseRoute(pathname: string): Route {
  const session = /^\/s\/([^/]+)\/?$/.exec(pathname);
  if (session?.[1]) return { page: "session", sessionId: decodeURIComponent(session[1]) };
  if (/^\/dlq\/?$/.test(pathname)) return { page: "dlq" };
  return { page: "new" };
}

export function sessionPath(sessionId: string): string {
  return `/s/${encodeURIComponent(sessionId)}`;
}

export function navigate(path: string): void {
  if (window.location.pathname === path) return;
  window.history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.pathname));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}
