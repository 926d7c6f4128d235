/**
 * Every Lambda-served field (graphql/resolvers.json): invoke the handler with the event a
 * direct Lambda resolver would send, and turn its error answer into a typed GraphQL error.
 *
 * A direct Lambda resolver's exception reaches clients as `Lambda:Unhandled` with prose, so the
 * handlers (tokencast.core.appsync_routes.resolve) answer `{data}` or `{error: {message, errorType,
 * errorInfo}}` and this response handler raises the error with util.error: clients get a stable
 * errorType (NotFound, Forbidden, InvalidInput, Quota, Conflict, Unavailable) and errorInfo.
 * A handler that crashed or timed out (ctx.error) becomes errorType `Internal`, with the
 * Lambda error type in errorInfo and no exception text.
 *
 * Python twin (run by the local emulator): tokencast.local.appsync.builtins.invoke_lambda_request
 * and invoke_lambda_response. tests/infra/test_resolver_parity.py runs this file under Node and
 * compares the two.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return {
    operation: 'Invoke',
    payload: {
      arguments: ctx.args,
      identity: ctx.identity,
      source: ctx.source,
      request: ctx.request,
      info: ctx.info,
      prev: ctx.prev,
      stash: ctx.stash,
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(`${ctx.info.fieldName}: the request failed unexpectedly; try again`, 'Internal', null, {
      cause: ctx.error.type,
    });
  }
  const answer = ctx.result;
  if (answer && answer.error) {
    util.error(answer.error.message, answer.error.errorType, null, answer.error.errorInfo);
  }
  return answer ? answer.data : null;
}
