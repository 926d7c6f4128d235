// What the JS end-to-end tests are given: only what `tokencast up` prints (the https
// endpoint, the API key, the local IAM credentials, a token from `tokencast token`), plus
// the prompt and the text the local model answers to it. NODE_EXTRA_CA_CERTS trusts the CA.
import WebSocket from "ws";

// Node 20 has no global WebSocket; Amplify v6 and the AppSync subscription link need one.
globalThis.WebSocket ??= WebSocket;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/e2e/test_js_frontends.py`);
  return value;
}

export const env = {
  endpoint: required("TOKENCAST_ENDPOINT"),
  region: required("TOKENCAST_REGION"),
  apiKey: required("TOKENCAST_API_KEY"),
  jwt: required("TOKENCAST_JWT"),
  accessKeyId: required("TOKENCAST_ACCESS_KEY_ID"),
  secretAccessKey: required("TOKENCAST_SECRET_ACCESS_KEY"),
  prompt: required("TOKENCAST_PROMPT"),
  expected: required("TOKENCAST_EXPECTED"),
};

export const ON_TOKEN = /* GraphQL */ `
  subscription OnTokenReceived($sessionId: ID!) {
    onTokenReceived(sessionId: $sessionId) { sessionId attempt seq type token isComplete }
  }`;

export const START = /* GraphQL */ `
  mutation StartStream($prompt: String, $input: StartStreamInput) {
    startStream(prompt: $prompt, input: $input) { sessionId status }
  }`;

/** Collects one session's events; resolves the text once the terminal event arrived. */
export function collector() {
  const events = [];
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  return {
    add(event) {
      events.push(event);
      if (event.isComplete) {
        const ordered = [...events].sort((a, b) => a.attempt - b.attempt || a.seq - b.seq);
        finish({ text: ordered.map((e) => e.token).join(""), last: ordered.at(-1), count: events.length });
      }
    },
    done,
  };
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))),
  ]);
}
