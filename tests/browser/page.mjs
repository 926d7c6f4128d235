// The page the browser tests load from another origin: an Amplify v6 app with
// @tokencast/client, bundled by esbuild at test setup. The test drives it through
// window.tokencastPage and reads back what a UI following the deltas would show.
import { Amplify } from "aws-amplify";
import { CONNECTION_STATE_CHANGE, generateClient } from "aws-amplify/api";
import { Hub } from "aws-amplify/utils";

import { createTokencastClient } from "@tokencast/client";
import { amplifyTransport } from "@tokencast/client/amplify";

let client = null;
const streams = new Map();
/** Amplify's real-time connection states, in order (Connected, ConnectionDisrupted, ...). */
const connectionStates = [];
Hub.listen("api", ({ payload }) => {
  if (payload.event === CONNECTION_STATE_CHANGE) connectionStates.push(payload.data.connectionState);
});

function record(stream) {
  const run = { sessionId: stream.sessionId, deltas: [], screen: "" };
  stream.onDelta((d) => {
    run.deltas.push({ text: d.text, attempt: d.attempt, seq: d.seq, restarted: d.restarted });
    run.screen = d.restarted ? "" : run.screen + d.text;
  });
  streams.set(stream.sessionId, { stream, run });
  return stream.sessionId;
}

window.tokencastPage = {
  configure({ endpoint, region, apiKey }) {
    Amplify.configure({ API: { GraphQL: { endpoint, region, defaultAuthMode: "apiKey", apiKey } } });
    client = createTokencastClient({
      graphql: amplifyTransport(generateClient()),
      stream: { gapGraceMs: 100, idlePollMs: 1000, reconnectBaseMs: 50, reconnectMaxMs: 500 },
    });
  },
  async stream(prompt) {
    return record(await client.stream({ prompt, visibility: "SHARED" }));
  },
  async watch(sessionId) {
    return record(await client.watch(sessionId));
  },
  connectionStates() {
    return [...connectionStates];
  },
  /** Characters shown so far (to act mid-stream). */
  shown(sessionId) {
    return streams.get(sessionId).run.screen.length;
  },
  async result(sessionId) {
    const { stream, run } = streams.get(sessionId);
    const result = await stream.result();
    return { status: result.status, text: result.text, screen: run.screen, deltas: run.deltas, stats: { ...stream.stats, assembler: undefined } };
  },
};
window.tokencastPageReady = true;
