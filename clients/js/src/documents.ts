/**
 * The GraphQL documents the client sends: the Python SDK's own (tokencast/client/api.py and
 * realtime.py), generated into wire.generated.ts by `make generate`. Edit the Python side.
 */
export {
  CANCEL_STREAM,
  EVENT_FIELDS,
  GET_EVENTS,
  GET_SESSION,
  LIST_SESSIONS,
  ON_TOKEN_RECEIVED,
  SESSION_FIELDS,
  START_STREAM,
  SUMMARY_FIELDS,
} from "./wire.generated.js";
