// Amplify JS v6, unmodified, against the local stack's https endpoint: API key, a
// Cognito-style JWT (custom token provider) and IAM. Subscribe first, start once the
// subscription is acknowledged, get the exact text. Then the same through @tokencast/client.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { Amplify } from "aws-amplify";
import { generateClient } from "aws-amplify/api";
import { Hub } from "aws-amplify/utils";

import { createTokencastClient } from "@tokencast/client";
import { amplifyTransport } from "@tokencast/client/amplify";

import { ON_TOKEN, START, collector, env, withTimeout } from "./env.mjs";

Amplify.configure(
  { API: { GraphQL: { endpoint: env.endpoint, region: env.region, defaultAuthMode: "apiKey", apiKey: env.apiKey } } },
  {
    Auth: {
      tokenProvider: {
        async getTokens() {
          // Amplify's JWT shape: the claims and the raw token (a Cognito token provider's job)
          const payload = JSON.parse(Buffer.from(env.jwt.split(".")[1], "base64url").toString("utf8"));
          const token = { payload, toString: () => env.jwt };
          return { accessToken: token, idToken: token };
        },
      },
      credentialsProvider: {
        async getCredentialsAndIdentityId() {
          return { credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey } };
        },
        clearCredentialsAndIdentityId() {},
      },
    },
  },
);

const open = new Set();
after(() => open.forEach((s) => s.unsubscribe()));

function acknowledged(sessionId) {
  return new Promise((resolve) => {
    const stop = Hub.listen("api", ({ payload }) => {
      if (payload.event === "Subscription ack" && payload.data?.variables?.sessionId === sessionId) {
        stop();
        resolve();
      }
    });
  });
}

for (const authMode of ["apiKey", "userPool", "iam"]) {
  test(`Amplify v6 generateClient with ${authMode}: subscribe first, start, exact text`, async () => {
    const client = generateClient({ authMode });
    const sessionId = crypto.randomUUID();
    const events = collector();
    const ack = acknowledged(sessionId);
    const failed = new Promise((_, reject) => {
      const subscription = client.graphql({ query: ON_TOKEN, variables: { sessionId } }).subscribe({
        next: ({ data }) => events.add(data.onTokenReceived),
        error: (error) => reject(new Error(`subscription failed: ${JSON.stringify(error)}`)),
      });
      open.add(subscription);
    });
    await withTimeout(Promise.race([ack, failed]), 15000, "start_ack");
    const started = await client.graphql({ query: START, variables: { prompt: env.prompt, input: { sessionId } } });
    assert.equal(started.data.startStream.sessionId, sessionId);
    const { text, last } = await withTimeout(Promise.race([events.done, failed]), 30000, "the terminal event");
    assert.equal(last.type, "COMPLETED");
    assert.equal(text, env.expected);
  });
}

test("Amplify v6 errors are named from x-amzn-ErrorType", async () => {
  const client = generateClient({ authMode: "apiKey" });
  await assert.rejects(
    client.graphql({ query: START, variables: { prompt: "x" }, authMode: "apiKey", apiKey: "not-the-key" }),
    (error) => error.errors?.[0]?.originalError?.name === "UnauthorizedException",
  );
});

for (const authMode of ["apiKey", "userPool", "iam"]) {
  test(`@tokencast/client on Amplify v6 with ${authMode}: exact text`, async () => {
    const tokencast = createTokencastClient({ graphql: amplifyTransport(generateClient({ authMode })) });
    const stream = await tokencast.stream({ prompt: env.prompt });
    const result = await withTimeout(stream.result(), 30000, "the stream's end");
    assert.equal(result.status, "COMPLETED");
    assert.equal(result.text, env.expected);
  });
}
