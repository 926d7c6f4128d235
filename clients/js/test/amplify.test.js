// How Amplify's subscription failures become typed errors (by errorType, never by wording).
import assert from "node:assert/strict";
import { test } from "node:test";

import { AuthError, ConnectionLost, InvalidRequest } from "../dist/index.js";
import { amplifySubscriptionError } from "../dist/amplify.js";

const failed = (detail) => ({ errors: [{ message: `Connection failed: ${detail}` }] });

test("a server error payload keeps its errorType", () => {
  const error = amplifySubscriptionError(
    failed(JSON.stringify({ errors: [{ errorType: "UnauthorizedException", message: "Valid authorization header not provided." }] })),
  );
  assert.ok(error instanceof AuthError);
  assert.equal(error.errorType, "UnauthorizedException");
  const invalid = amplifySubscriptionError(failed(JSON.stringify({ errors: [{ errorType: "ValidationError", message: "x" }] })));
  assert.ok(invalid instanceof InvalidRequest);
});

test("a socket that could not be opened is ConnectionLost (the stream retries it)", () => {
  assert.ok(amplifySubscriptionError(failed("Network error")) instanceof ConnectionLost);
});

test("Amplify's own 'Unauthorized' rewording is an AuthError", () => {
  assert.ok(amplifySubscriptionError({ errors: [{ message: "Unauthorized" }] }) instanceof AuthError);
});
