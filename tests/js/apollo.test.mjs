// Apollo Client 4 + aws-appsync-auth-link + aws-appsync-subscription-link, unmodified,
// against the local stack's https endpoint with API key, JWT and IAM: subscribe first
// (the link reports start_ack as a control message), start, exact text. Then the same
// through @tokencast/client's Apollo transport.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createRequire } from "node:module";

import { ApolloLink, gql } from "@apollo/client";

// In Node ESM, aws-appsync-auth-link's ESM build reads Sha256 off a CommonJS-only
// @aws-crypto/sha256-js 1.x as a named export and gets undefined (bundlers do not have this
// problem): load the AppSync links, and so Apollo, as CommonJS.
const require = createRequire(import.meta.url);
const { ApolloClient, HttpLink, InMemoryCache } = require("@apollo/client");
const { AUTH_TYPE, createAuthLink } = require("aws-appsync-auth-link");
const { createSubscriptionHandshakeLink } = require("aws-appsync-subscription-link");
const CjsApolloLink = require("@apollo/client").ApolloLink;

import { createTokencastClient } from "@tokencast/client";
import { apolloTransport } from "@tokencast/client/apollo";

import { ON_TOKEN, START, collector, env, withTimeout } from "./env.mjs";

const AUTH = {
  apiKey: { type: AUTH_TYPE.API_KEY, apiKey: env.apiKey },
  userPool: { type: AUTH_TYPE.AMAZON_COGNITO_USER_POOLS, jwtToken: async () => env.jwt },
  iam: {
    type: AUTH_TYPE.AWS_IAM,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  },
};

function apollo(mode) {
  const config = { url: env.endpoint, region: env.region, auth: AUTH[mode] };
  return new ApolloClient({
    link: CjsApolloLink.from([
      createAuthLink(config),
      createSubscriptionHandshakeLink(config, new HttpLink({ uri: env.endpoint })),
    ]),
    cache: new InMemoryCache(),
    // Apollo 4 would add extensions.clientLibrary to the body after the auth link signed it.
    enhancedClientAwareness: { transport: false },
  });
}

for (const mode of Object.keys(AUTH)) {
  test(`Apollo 4 + aws-appsync links with ${mode}: subscribe first, start, exact text`, async () => {
    const client = apollo(mode);
    const sessionId = crypto.randomUUID();
    const events = collector();
    let acknowledged;
    const ack = new Promise((resolve) => (acknowledged = resolve));
    let subscription;
    const failed = new Promise((_, reject) => {
      // The link reports start_ack as a control message; ApolloClient.subscribe() filters
      // results without data out, so run the subscription through the link chain itself.
      subscription = ApolloLink.execute(
        client.link,
        { query: gql(ON_TOKEN), variables: { sessionId }, context: { controlMessages: { "@@controlEvents": true } } },
        { client },
      ).subscribe({
        next: (result) => {
          if (result.extensions?.controlMsgType === "CONNECTED") acknowledged();
          else if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          else if (result.data?.onTokenReceived) events.add(result.data.onTokenReceived);
        },
        error: reject,
      });
    });
    try {
      await withTimeout(Promise.race([ack, failed]), 15000, "start_ack");
      const started = await client.mutate({ mutation: gql(START), variables: { prompt: env.prompt, input: { sessionId } } });
      assert.equal(started.data.startStream.sessionId, sessionId);
      const { text, last } = await withTimeout(Promise.race([events.done, failed]), 30000, "the terminal event");
      assert.equal(last.type, "COMPLETED");
      assert.equal(text, env.expected);
    } finally {
      subscription.unsubscribe();
      client.stop();
    }
  });
}

for (const mode of Object.keys(AUTH)) {
  test(`@tokencast/client on Apollo with ${mode}: exact text`, async () => {
    const client = apollo(mode);
    try {
      const tokencast = createTokencastClient({ graphql: apolloTransport(client) });
      const stream = await tokencast.stream({ prompt: env.prompt });
      const result = await withTimeout(stream.result(), 30000, "the stream's end");
      assert.equal(result.status, "COMPLETED");
      assert.equal(result.text, env.expected);
    } finally {
      client.stop();
    }
  });
}
