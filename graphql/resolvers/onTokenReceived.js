/**
 * Subscription.onTokenReceived: who receives a session's events, enforced by AppSync itself.
 *
 * An enhanced subscription filter, set when the subscription starts, makes AppSync drop every
 * publishToken event the caller may not read (tokencast.access.can_read):
 *   - the owner always receives their session's events;
 *   - anyone signed in (Cognito or IAM) also receives a SHARED session's events;
 *   - an API-key caller (dev only, no identity) is "anonymous" and sees only anonymous sessions.
 * Filter groups are ORed, the filters inside a group ANDed. The filter reads `owner` and
 * `visibility`, so the worker must select both fields in its publishToken selection set.
 *
 * Python twin (run by the local emulator): tokencast.local.appsync.builtins.session_access_filter.
 * tests/infra/test_resolver_parity.py runs this file under Node and compares the two.
 */
import { util, extensions } from '@aws-appsync/utils';

const ANONYMOUS = 'anonymous';

/** tokencast.access.principal_of: Cognito sub, else IAM user ARN, else username, else anonymous. */
function principalOf(identity) {
  if (!identity) {
    return ANONYMOUS;
  }
  return identity.sub || identity.userArn || identity.username || ANONYMOUS;
}

export function request(ctx) {
  return { payload: null };
}

export function response(ctx) {
  const sessionId = ctx.args.sessionId;
  const principal = principalOf(ctx.identity);
  const groups = [{ sessionId: { eq: sessionId }, owner: { eq: principal } }];
  if (principal !== ANONYMOUS) {
    groups.push({ sessionId: { eq: sessionId }, visibility: { eq: 'SHARED' } });
  }
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter({ or: groups }));
  return null;
}
