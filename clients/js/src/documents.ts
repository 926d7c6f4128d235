/** The GraphQL documents the client sends (the same selections as tokencast/client/api.py). */

const USAGE = "usage { inputTokens outputTokens totalTokens }";
export const SESSION_FIELDS =
  "sessionId status message timestamp error attempt text lastSeq stopReason modelId visibility owner " +
  `createdAt updatedAt ${USAGE}`;
export const SUMMARY_FIELDS = `sessionId status message createdAt attempt modelId visibility stopReason error ${USAGE}`;
export const EVENT_FIELDS = `sessionId attempt seq type token isComplete stopReason error timestamp ${USAGE}`;

export const START_STREAM =
  "mutation StartStream($prompt: String, $input: StartStreamInput) " +
  `{ startStream(prompt: $prompt, input: $input) { ${SESSION_FIELDS} } }`;
export const CANCEL_STREAM = `mutation CancelStream($sessionId: ID!) { cancelStream(sessionId: $sessionId) { ${SESSION_FIELDS} } }`;
export const GET_SESSION = `query GetSession($sessionId: ID!) { getSession(sessionId: $sessionId) { ${SESSION_FIELDS} } }`;
export const GET_EVENTS =
  "query GetEvents($sessionId: ID!, $afterAttempt: Int, $afterSeq: Int, $limit: Int) " +
  "{ getEvents(sessionId: $sessionId, afterAttempt: $afterAttempt, afterSeq: $afterSeq, limit: $limit) " +
  `{ items { ${EVENT_FIELDS} } nextAttempt nextSeq } }`;
export const LIST_SESSIONS =
  "query ListSessions($limit: Int, $nextToken: String) " +
  `{ listSessions(limit: $limit, nextToken: $nextToken) { items { ${SUMMARY_FIELDS} } nextToken } }`;
/**
 * Subscribers receive only the fields the triggering mutation (the worker's publishToken)
 * selected; the worker selects all of these.
 */
export const ON_TOKEN_RECEIVED = `subscription OnTokenReceived($sessionId: ID!) { onTokenReceived(sessionId: $sessionId) { ${EVENT_FIELDS} } }`;
