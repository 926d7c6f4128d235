/**
 * The client's errors: one class per thing a caller may want to handle, chosen by AppSync's
 * `errorType` (never by parsing message text).
 *
 *     TokencastError
 *     ├── ClientClosed        the stream was closed before it ended
 *     ├── ConnectionLost      the API or the real-time endpoint could not be reached / kept
 *     ├── RequestError        AppSync answered with errors (errorType, message, errors)
 *     │   ├── AuthError       Unauthorized: bad key, token or signature, or not allowed
 *     │   ├── InvalidRequest  the request broke a rule (InvalidInput, ValidationError ...)
 *     │   ├── SessionNotFound no such session (or not yours to read)
 *     │   ├── Forbidden       you may read the session but not do this (cancel by a non-owner)
 *     │   ├── QuotaExceeded   a per-user or per-deployment quota refused the request
 *     │   └── Conflict        the request conflicts with the session's state
 *     └── StreamFailed        the session ended FAILED
 */
import type { StreamResult } from "./types.js";

export interface GraphQLErrorShape {
  message?: string;
  errorType?: string | null;
  errorInfo?: unknown;
  path?: readonly (string | number)[] | null;
}

export class TokencastError extends Error {
  override name = "TokencastError";
}

export class ClientClosed extends TokencastError {
  override name = "ClientClosed";
}

export class ConnectionLost extends TokencastError {
  override name = "ConnectionLost";
}

export class RequestError extends TokencastError {
  override name = "RequestError";
  readonly errorType: string | null;
  readonly errorInfo: unknown;
  readonly errors: GraphQLErrorShape[];

  constructor(message: string, errorType: string | null = null, errors: GraphQLErrorShape[] = []) {
    super(message);
    this.errorType = errorType;
    this.errors = errors;
    this.errorInfo = errors[0]?.errorInfo ?? null;
  }
}

export class AuthError extends RequestError {
  override name = "AuthError";
}
export class InvalidRequest extends RequestError {
  override name = "InvalidRequest";
}
export class SessionNotFound extends RequestError {
  override name = "SessionNotFound";
}
export class Forbidden extends RequestError {
  override name = "Forbidden";
}
export class QuotaExceeded extends RequestError {
  override name = "QuotaExceeded";
}
export class Conflict extends RequestError {
  override name = "Conflict";
}

export class StreamFailed extends TokencastError {
  override name = "StreamFailed";
  readonly result: StreamResult;
  constructor(result: StreamResult) {
    super(`session ${result.sessionId} failed: ${result.error ?? "no reason given"}`);
    this.result = result;
  }
}

const KINDS: ReadonlyArray<[ReadonlySet<string>, typeof RequestError]> = [
  [
    new Set([
      "Unauthorized",
      "UnauthorizedException",
      "UnrecognizedClientException",
      "AccessDeniedException",
      "ExpiredTokenException",
      "InvalidSignatureException",
      "IncompleteSignatureException",
      "InvalidClientTokenId",
      "SignatureDoesNotMatch",
    ]),
    AuthError,
  ],
  [
    new Set([
      "InvalidInput",
      "ValidationError",
      "BadRequestException",
      "MalformedHttpRequestException",
      "MalformedMessage",
      "PayloadTooLargeException",
    ]),
    InvalidRequest,
  ],
  [new Set(["NotFound", "NotFoundException", "SessionNotFound"]), SessionNotFound],
  [new Set(["Forbidden", "ForbiddenException"]), Forbidden],
  [new Set(["Quota", "QuotaExceeded"]), QuotaExceeded],
  [new Set(["Conflict"]), Conflict],
];

/** Worth retrying: AppSync's rate limits and its own transient failures. */
const TRANSIENT = new Set([
  "LimitExceededError",
  "LimitExceededException",
  "ThrottlingException",
  "TooManyRequestsException",
  "InternalFailure",
  "InternalFailureException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
]);

/** AppSync real-time errors may arrive nested (`[{errors: [...]}]`); HTTP ones flat. */
function flatten(errors: readonly unknown[]): GraphQLErrorShape[] {
  const flat: GraphQLErrorShape[] = [];
  for (const item of errors) {
    if (typeof item === "object" && item !== null) {
      const nested = (item as { errors?: unknown }).errors;
      if (Array.isArray(nested)) flat.push(...flatten(nested));
      else flat.push(item as GraphQLErrorShape);
    } else {
      flat.push({ message: String(item) });
    }
  }
  return flat;
}

/** The exact error for an AppSync `errors` list, by the first error's `errorType`. */
export function errorFromGraphQL(errors: readonly unknown[]): RequestError {
  const flat = flatten(errors);
  const first = flat[0] ?? {};
  const errorType = first.errorType ?? null;
  const message = String(first.message ?? errorType ?? "request failed");
  for (const [types, Kind] of KINDS) {
    if (errorType !== null && types.has(errorType)) return new Kind(message, errorType, flat);
  }
  return new RequestError(message, errorType, flat);
}

function isKnownType(name: string): boolean {
  return TRANSIENT.has(name) || KINDS.some(([types]) => types.has(name));
}

/** Whether retrying the same request may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ConnectionLost) return true;
  return error instanceof RequestError && error.constructor === RequestError && TRANSIENT.has(error.errorType ?? "");
}

/**
 * Any failure a transport raised, as a TokencastError: GraphQL error lists (Amplify rejects
 * with `{errors: [...]}`, Apollo with `CombinedGraphQLErrors`) by errorType; network failures
 * as ConnectionLost.
 */
export function toTokencastError(error: unknown): TokencastError {
  if (error instanceof TokencastError) return error;
  if (typeof error === "object" && error !== null) {
    const errors = (error as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      // Amplify wraps an HTTP failure as a GraphQL error whose originalError is named after
      // the x-amzn-ErrorType header (UnauthorizedException ...) or is the network failure.
      const first = errors[0] as { errorType?: unknown; originalError?: { name?: unknown; message?: unknown } };
      const original = first?.originalError;
      if (first && first.errorType == null && original && typeof original === "object") {
        const name = typeof original.name === "string" ? original.name : "";
        if (isKnownType(name)) return errorFromGraphQL([{ errorType: name, message: String(original.message ?? name) }]);
        const lost = new ConnectionLost(`GraphQL request failed: ${String(original.message ?? name)}`);
        (lost as { cause?: unknown }).cause = original;
        return lost;
      }
      return errorFromGraphQL(errors);
    }
    const name = (error as { name?: unknown }).name;
    const message = String((error as { message?: unknown }).message ?? error);
    const type = (error as { errorType?: unknown }).errorType;
    if (typeof type === "string") return errorFromGraphQL([{ errorType: type, message }]);
    if (typeof name === "string" && isKnownType(name)) {
      return errorFromGraphQL([{ errorType: name, message }]);
    }
    const lost = new ConnectionLost(`GraphQL request failed: ${message}`);
    (lost as { cause?: unknown }).cause = error;
    return lost;
  }
  return new ConnectionLost(`GraphQL request failed: ${String(error)}`);
}
