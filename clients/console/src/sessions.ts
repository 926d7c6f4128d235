/** "My sessions" through the TS client's `listSessions`: the signed-in caller's sessions, newest first. */
import type { SessionPage, TokencastClient } from "@tokencast/client";

export function listSessions(client: TokencastClient, limit: number, nextToken: string | null): Promise<SessionPage> {
  return client.listSessions({ limit, nextToken });
}
