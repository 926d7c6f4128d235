// listSessions through the client: variables sent, pages parsed, and sessions() following nextToken.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTokencastClient } from "../dist/index.js";

function pagedTransport(pages) {
  const calls = [];
  return {
    calls,
    request: async (document, variables) => {
      assert.match(document, /listSessions\(limit: \$limit, nextToken: \$nextToken\)/);
      calls.push(variables);
      const index = variables.nextToken === null ? 0 : Number(variables.nextToken.slice(1));
      const items = pages[index].map((id) => ({ sessionId: id, status: "COMPLETED", createdAt: "2026-12-02T06:00:00.000Z", attempt: 1, usage: { outputTokens: 3 } }));
      return { listSessions: { items, nextToken: index + 1 < pages.length ? `p${index + 1}` : null } };
    },
    subscribe: () => assert.fail("listSessions never subscribes"),
  };
}

test("listSessions sends limit and nextToken and parses the page", async () => {
  const transport = pagedTransport([["s3", "s2"], ["s1"]]);
  const client = createTokencastClient({ graphql: transport });
  const first = await client.listSessions({ limit: 2 });
  assert.deepEqual(first.items.map((s) => [s.sessionId, s.status, s.attempt, s.usage?.outputTokens]), [["s3", "COMPLETED", 1, 3], ["s2", "COMPLETED", 1, 3]]);
  assert.equal(first.nextToken, "p1");
  const last = await client.listSessions({ limit: 2, nextToken: first.nextToken });
  assert.deepEqual(last.items.map((s) => s.sessionId), ["s1"]);
  assert.equal(last.nextToken, null);
  assert.deepEqual(transport.calls, [{ limit: 2, nextToken: null }, { limit: 2, nextToken: "p1" }]);
});

test("sessions() yields every session across pages, newest first", async () => {
  const client = createTokencastClient({ graphql: pagedTransport([["s5", "s4"], ["s3", "s2"], ["s1"]]) });
  const seen = [];
  for await (const session of client.sessions({ pageSize: 2 })) seen.push(session.sessionId);
  assert.deepEqual(seen, ["s5", "s4", "s3", "s2", "s1"]);
});
