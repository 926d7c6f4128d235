/**
 * Who the console acts as, and the TS client it streams through.
 *
 * Identities: the API key (no user: sessions owned by "anonymous", visible to API-key callers
 * only), a local user (a JWT the local issuer mints through `POST /_local/auth/token`, the
 * browser's `tokencast token --user`), or a Cognito user signed in with Amplify Auth.
 *
 * Transport: Amplify's (`amplifyTransport(generateClient())`) when the API is HTTPS; the
 * console's own fetch/WebSocket transport when it is plain HTTP, which Amplify v6 cannot
 * subscribe to (see appsyncTransport.ts).
 */
import { Amplify } from "aws-amplify";
import { generateClient } from "aws-amplify/api";
import { fetchAuthSession, getCurrentUser, signIn, signOut } from "aws-amplify/auth";
import { createTokencastClient } from "@tokencast/client";
import type { GraphQLTransport, TokencastClient } from "@tokencast/client";
import { amplifyTransport } from "@tokencast/client/amplify";

import { appsyncTransport } from "./appsyncTransport.js";
import type { AuthHeaders } from "./appsyncTransport.js";
import { realtimeUrlFor } from "./config.js";
import type { ConsoleConfig } from "./config.js";

/** `principal` is what the API stores as a session's owner (tokencast/access.py). */
export type Identity =
  | { kind: "apiKey"; label: string; principal: string }
  | { kind: "user"; label: string; principal: string; user: string; token: string }
  | { kind: "cognito"; label: string; principal: string; user: string };

/** API-key callers all own their sessions as this principal. */
const ANONYMOUS = "anonymous";

type Remembered = { kind: "apiKey" } | { kind: "user"; user: string } | { kind: "cognito" };

const REMEMBERED = "tokencast.console.identity";

/** The stack's `/_local/*` operations, called with its API key (same origin only). */
export class LocalApi {
  constructor(private readonly apiKey: string) {}

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: { "x-api-key": this.apiKey, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const data = (await response.json().catch(() => ({}))) as T & { message?: string };
    if (!response.ok) throw new Error(data.message ?? `${path}: HTTP ${response.status}`);
    return data;
  }

  mintToken(user: string): Promise<{ user: string; sub: string; token: string }> {
    return this.call("POST", "/_local/auth/token", { user });
  }

  deadJobs(): Promise<{ jobs: DeadJob[] }> {
    return this.call("GET", "/_local/dlq");
  }

  replay(sessionIds: string[] | null, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<{ results: ReplayResult[] }> {
    return this.call("POST", "/_local/dlq/replay", { sessionIds, dryRun: opts.dryRun ?? false, force: opts.force ?? false });
  }
}

/** One job in the dead-letter queue, as `tokencast dlq list --json` shows it. */
export interface DeadJob {
  message_id: string;
  session_id: string | null;
  owner: string | null;
  model_id: string | null;
  reason: string;
  error_type: string | null;
  attempts: number | null;
  failed_at: string | null;
  age_s: number;
  receive_count: number;
}

export interface ReplayResult {
  messageId: string;
  sessionId: string | null;
  action: "replayed" | "would-replay" | "refused";
  reason: string;
}

function configureAmplify(config: ConsoleConfig): void {
  Amplify.configure({
    API: {
      GraphQL: {
        endpoint: config.graphqlUrl,
        region: config.region,
        defaultAuthMode: config.apiKey ? "apiKey" : "userPool",
        ...(config.apiKey ? { apiKey: config.apiKey } : {}),
      },
    },
    ...(config.userPoolId && config.userPoolClientId
      ? { Auth: { Cognito: { userPoolId: config.userPoolId, userPoolClientId: config.userPoolClientId } } }
      : {}),
  });
}

export class Connection {
  readonly local: LocalApi | null;
  private configured = false;

  constructor(readonly config: ConsoleConfig) {
    this.local = config.mode === "local" && config.apiKey ? new LocalApi(config.apiKey) : null;
  }

  private amplify(): void {
    if (!this.configured) configureAmplify(this.config);
    this.configured = true;
  }

  /** The sign-ins this API offers. */
  get offers(): { apiKey: boolean; localUser: boolean; cognito: boolean } {
    const c = this.config;
    return { apiKey: Boolean(c.apiKey), localUser: this.local !== null, cognito: Boolean(c.userPoolId && c.userPoolClientId) };
  }

  async useApiKey(): Promise<Identity> {
    remember({ kind: "apiKey" });
    return { kind: "apiKey", label: "API key", principal: ANONYMOUS };
  }

  async signInLocal(user: string): Promise<Identity> {
    if (this.local === null) throw new Error("local sign-in is only offered by `tokencast up`");
    const minted = await this.local.mintToken(user);
    remember({ kind: "user", user: minted.user });
    return { kind: "user", label: minted.user, principal: minted.sub, user: minted.user, token: minted.token };
  }

  async signInCognito(username: string, password: string): Promise<Identity> {
    this.amplify();
    const result = await signIn({ username, password });
    if (!result.isSignedIn) throw new Error(`Cognito needs another step: ${result.nextStep.signInStep}`);
    remember({ kind: "cognito" });
    return this.cognitoIdentity(username);
  }

  /** The identity this browser used last, signed in again (a fresh local token), or null. */
  async restore(): Promise<Identity | null> {
    const raw = localStorage.getItem(REMEMBERED);
    if (raw === null) return null;
    try {
      const remembered = JSON.parse(raw) as Remembered;
      if (remembered.kind === "apiKey" && this.offers.apiKey) return await this.useApiKey();
      if (remembered.kind === "user" && this.offers.localUser) return await this.signInLocal(remembered.user);
      if (remembered.kind === "cognito" && this.offers.cognito) {
        this.amplify();
        const user = await getCurrentUser();
        return await this.cognitoIdentity(user.username);
      }
    } catch {
      // fall through: ask again
    }
    localStorage.removeItem(REMEMBERED);
    return null;
  }

  private async cognitoIdentity(username: string): Promise<Identity> {
    const session = await fetchAuthSession();
    return { kind: "cognito", label: username, principal: session.userSub ?? username, user: username };
  }

  async signOut(identity: Identity): Promise<void> {
    localStorage.removeItem(REMEMBERED);
    if (identity.kind === "cognito") await signOut();
  }

  /** A TS client acting as `identity`. */
  client(identity: Identity): TokencastClient {
    return createTokencastClient({ graphql: this.transport(identity) });
  }

  private transport(identity: Identity): GraphQLTransport {
    const config = this.config;
    if (config.graphqlUrl.startsWith("https:")) {
      this.amplify();
      if (identity.kind === "apiKey") return amplifyTransport(generateClient(), { authMode: "apiKey" });
      if (identity.kind === "user") return amplifyTransport(generateClient(), { authMode: "lambda", authToken: identity.token });
      return amplifyTransport(generateClient(), { authMode: "userPool" });
    }
    const headers: AuthHeaders = async (): Promise<Record<string, string>> => {
      if (identity.kind === "apiKey") return { "x-api-key": config.apiKey ?? "" };
      if (identity.kind === "user") return { Authorization: identity.token };
      const session = await fetchAuthSession();
      return { Authorization: session.tokens?.idToken?.toString() ?? "" };
    };
    return appsyncTransport(config.graphqlUrl, config.realtimeUrl ?? realtimeUrlFor(config.graphqlUrl), headers);
  }
}

function remember(value: Remembered): void {
  localStorage.setItem(REMEMBERED, JSON.stringify(value));
}
