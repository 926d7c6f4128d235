// The stream driver against an in-memory fake of the API (event log + live delivery), so
// the rules that need timing -- subscribe before start, gaps, drops, restarts -- are checked
// without a server. Waits are on the stream's own promises, never on sleeps.
import assert from "node:assert/strict";
import { test } from "node:test";

import { AuthError, QuotaExceeded, SessionNotFound, createTokencastClient, errorFromGraphQL } from "../dist/index.js";
import { FAST, FakeServer, attempt } from "../test-support/fake-server.js";

test("subscribes, waits for the acknowledgement, then starts with a client-chosen UUID", async () => {
  const server = new FakeServer();
  server.onStart = (sid) => queueMicrotask(() => attempt(sid, 1, ["Hel", "lo"]).forEach((e) => server.publish(e)));
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  const stream = await client.stream({ prompt: "hi" });
  const result = await stream.result();
  assert.equal(result.text, "Hello");
  assert.equal(result.status, "COMPLETED");
  assert.match(stream.sessionId, /^[0-9a-f-]{36}$/);
  const start = server.calls.find((c) => c.op === "startStream");
  assert.deepEqual(start.subscribed, [stream.sessionId], "startStream only once subscribed");
  assert.deepEqual(server.acked, [stream.sessionId]);
  assert.equal(start.variables.input.sessionId, stream.sessionId);
  assert.equal(server.subscribers.size, 0, "the subscription is closed at the end");
});

test("lost live events are filled from the log, in order, once", async () => {
  const server = new FakeServer();
  server.dropRule = (e) => e.seq % 2 === 0; // every other delivery lost
  server.onStart = (sid) => queueMicrotask(() => attempt(sid, 1, "abcdefgh".split("")).forEach((e) => server.publish(e)));
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  const stream = await client.stream({ prompt: "hi" });
  const deltas = [];
  stream.onDelta((d) => deltas.push(d));
  const result = await stream.result();
  assert.equal(result.text, "abcdefgh");
  assert.ok(stream.stats.catchUps >= 1);
  assert.ok(result.text.endsWith(deltas.map((d) => d.text).join("")));
});

test("a restart supersedes the earlier attempt's text", async () => {
  const server = new FakeServer();
  server.onStart = (sid) =>
    queueMicrotask(() => [...attempt(sid, 1, ["wrong"], null), ...attempt(sid, 2, ["right"])].forEach((e) => server.publish(e)));
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  const stream = await client.stream({ prompt: "hi" });
  const texts = [];
  stream.onText((t) => texts.push(t));
  const result = await stream.result();
  assert.equal(result.text, "right");
  assert.equal(result.attempt, 2);
});

test("a dropped subscription is re-established and what was missed is caught up", async () => {
  const server = new FakeServer();
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  let sid;
  server.onStart = (s) => (sid = s);
  const stream = await client.stream({ prompt: "hi" });
  const events = attempt(sid, 1, ["one ", "two ", "three"]);
  server.publish(events[0]);
  server.publish(events[1]);
  server.drop(sid);
  server.publish(events[2]); // while nobody listens: only in the log
  await new Promise((resolve) => {
    const check = () => (server.subscribers.size > 0 ? resolve() : setTimeout(check, 1));
    check();
  });
  server.publish(events[3]);
  server.publish(events[4]);
  const result = await stream.result();
  assert.equal(result.text, "one two three");
  assert.equal(stream.stats.drops, 1);
  assert.equal(stream.stats.resubscribes, 1);
});

test("a late joiner gets the text so far from the log and the rest live", async () => {
  const server = new FakeServer();
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  const sid = crypto.randomUUID();
  server.sessions.set(sid, { sessionId: sid, status: "STREAMING", attempt: 1, text: "", lastSeq: 2 });
  const events = attempt(sid, 1, ["early ", "late"]);
  server.publish(events[0]);
  server.publish(events[1]);
  const stream = await client.watch(sid);
  server.publish(events[2]);
  server.publish(events[3]);
  assert.equal((await stream.result()).text, "early late");
});

test("errors are told apart by errorType, never by message", async () => {
  assert.ok(errorFromGraphQL([{ errorType: "NotFound", message: "x" }]) instanceof SessionNotFound);
  assert.ok(errorFromGraphQL([{ errorType: "UnauthorizedException", message: "x" }]) instanceof AuthError);
  const server = new FakeServer();
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  await assert.rejects(client.stream({ prompt: "quota" }), (e) => e instanceof QuotaExceeded && e.errorType === "Quota");
  assert.equal(server.subscribers.size, 0, "a refused start leaves no subscription behind");
  await assert.rejects(client.getSession(crypto.randomUUID()), SessionNotFound);
});

test("cancel asks the server and the stream ends with the CANCELLED event", async () => {
  const server = new FakeServer();
  let sid;
  server.onStart = (s) => (sid = s);
  const client = createTokencastClient({ graphql: server.transport(), stream: FAST });
  const stream = await client.stream({ prompt: "hi" });
  server.publish(attempt(sid, 1, [], null)[0]);
  const session = await stream.cancel();
  assert.equal(session.status, "CANCELLED");
  server.publish({ sessionId: sid, attempt: 1, seq: 2, type: "CANCELLED", token: "", isComplete: true });
  assert.equal((await stream.result()).status, "CANCELLED");
});

test("a transport that re-establishes the subscription by itself (Amplify) triggers a catch-up", async () => {
  const server = new FakeServer();
  // No idle poll and no gap fetch within the test's time: only the re-acknowledgement can finish it.
  const client = createTokencastClient({ graphql: server.transport(), stream: { ...FAST, idlePollMs: 600000, gapGraceMs: 600000 } });
  let sid;
  server.onStart = (s) => (sid = s);
  const stream = await client.stream({ prompt: "hi" });
  const events = attempt(sid, 1, ["while ", "away"]);
  server.publish(events[0]);
  for (const e of events.slice(1)) server.publish(e, { live: false }); // the socket was down
  for (const s of server.subscribers) s.handlers.onAck(); // reconnected and acknowledged again
  const result = await stream.result();
  assert.equal(result.text, "while away");
  assert.equal(stream.stats.reacks, 1);
});
