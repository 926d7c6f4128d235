/**
 * Where the console's API is, and which sign-ins it offers.
 *
 * `tokencast up` serves `/console/config.json` (mode "local": endpoints and the stack's API
 * key, since the page and the API share one origin). A static copy of the console pointed at
 * a deployed stack gets its config either from a `config.json` placed next to the page
 * (mode "cloud", no key unless the stack has one) or from the "connect" form, which keeps it
 * in this browser's localStorage.
 */
export interface ConsoleConfig {
  mode: "local" | "cloud";
  graphqlUrl: string;
  /** AppSync's real-time URL; derived from graphqlUrl when absent. */
  realtimeUrl?: string;
  region: string;
  apiKey?: string;
  userPoolId?: string;
  userPoolClientId?: string;
}

const STORED = "tokencast.console.cloud";

function isConfig(value: unknown): value is ConsoleConfig {
  const c = value as Partial<ConsoleConfig> | null;
  return (
    typeof c === "object" &&
    c !== null &&
    (c.mode === "local" || c.mode === "cloud") &&
    typeof c.graphqlUrl === "string" &&
    typeof c.region === "string"
  );
}

/** AppSync's rule: `X.appsync-api.R.amazonaws.com` → `X.appsync-realtime-api.R.amazonaws.com`; else `/realtime`. */
export function realtimeUrlFor(graphqlUrl: string): string {
  const url = new URL(graphqlUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (url.host.includes(".appsync-api.")) url.host = url.host.replace(".appsync-api.", ".appsync-realtime-api.");
  else url.pathname = `${url.pathname.replace(/\/$/, "")}/realtime`;
  return url.toString();
}

export async function loadConfig(): Promise<ConsoleConfig | null> {
  try {
    const response = await fetch("/console/config.json", { cache: "no-store" });
    if (response.ok) {
      const served: unknown = await response.json();
      if (isConfig(served)) return served;
    }
  } catch {
    // no server-side config: a static copy of the console
  }
  const stored = localStorage.getItem(STORED);
  if (stored !== null) {
    try {
      const parsed: unknown = JSON.parse(stored);
      if (isConfig(parsed)) return parsed;
    } catch {
      localStorage.removeItem(STORED);
    }
  }
  return null;
}

/** Keep a deployed stack's outputs (the connect form) in this browser. */
export function saveCloudConfig(config: ConsoleConfig): void {
  localStorage.setItem(STORED, JSON.stringify(config));
}

export function forgetCloudConfig(): void {
  localStorage.removeItem(STORED);
}
