// The generated documents (wire.generated.ts, `make generate`) and the hand-written parsers
// agree: each parser hands out exactly the top-level fields its selection asks for.
import assert from "node:assert/strict";
import { test } from "node:test";

import { documents, parseEvent, parseSession, parseSummary } from "../dist/index.js";

/** The top-level field names of a selection (nested selections dropped). */
function topLevel(selection) {
  let flat = selection;
  while (/\{[^{}]*\}/.test(flat)) flat = flat.replace(/\{[^{}]*\}/g, "");
  return flat.split(/\s+/).filter(Boolean).sort();
}

test("each parser returns exactly the fields its selection selects", () => {
  const identity = { sessionId: "s", attempt: 1, seq: 1, type: "TOKEN", status: "QUEUED" };
  assert.deepEqual(Object.keys(parseEvent(identity)).sort(), topLevel(documents.EVENT_FIELDS));
  assert.deepEqual(Object.keys(parseSession(identity)).sort(), topLevel(documents.SESSION_FIELDS));
  assert.deepEqual(Object.keys(parseSummary(identity)).sort(), topLevel(documents.SUMMARY_FIELDS));
});

test("live and stored events carry owner and visibility, as the Python SDK's do", () => {
  assert.match(documents.ON_TOKEN_RECEIVED, /\bowner\b.*\bvisibility\b/);
  assert.match(documents.GET_EVENTS, /\bowner\b.*\bvisibility\b/);
  const event = parseEvent({ sessionId: "s", attempt: 1, seq: 2, type: "TOKEN", token: "hi", owner: "alice", visibility: "SHARED" });
  assert.equal(event.owner, "alice");
  assert.equal(event.visibility, "SHARED");
  assert.equal(parseEvent({ sessionId: "s", attempt: 1, seq: 2, type: "TOKEN" }).owner, null);
});
