/** `listSessions` through the TS client: the signed-in caller's sessions, newest first. */
import type { TokencastClient, Usage } from "@tokencast/client";

export interface SessionSummary {
  sessionId: string;
  status: string;
  message: string | null;
  createdAt: string;
  attempt: number;
  modelId: string | null;
  visibility: string | null;
  usage: Usage | null;
  stopReason: string | null;
  error: string | null;
}

export interface SessionPage {
  items: SessionSummary[];
  nextToken: string | null;
}

export const LIST_SESSIONS = `query ListSessions($limit: Int, $nextToken: String) {
  listSessions(limit: $limit, nextToken: $nextToken) {
    items { sessionId status message createdAt attempt modelId visibility stopReason error usage { inputTokens outputTokens totalTokens } }
    nextToken
  }
}`;

export async function listSessions(client: TokencastClient, limit: number, nextToken: string | null): Promise<SessionPage> {
  const data = await client.request(LIST_SESSIONS, { limit, ...(nextToken !== null ? { nextToken } : {}) });
  return data.listSessions as SessionPage;
}
