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

/** Session ids longer than this are never stored (tokencast.core.start_request.MAX_SESSION_ID_CHARS). */
const MAX_SESSION_ID_CHARS = 128;

/** tokencast.access.role_of: an assumed-role session ARN without its session name. */
function roleOf(arn) {
  const parts = arn.split(':');
  if (parts.length === 6 && parts[2] === 'sts' && parts[5].startsWith('assumed-role/')) {
    const path = parts[5].split('/');
    if (path.length >= 3) {
      return `${parts.slice(0, 5).join(':')}:assumed-role/${path[1]}`;
    }
  }
  return arn;
}

/**
 * tokencast.access.principal_of: Cognito sub; else the Cognito identity id (identity-pool
 * callers share a role); else the IAM caller's ARN (an assumed role without its session name);
 * else username; else anonymous.
 */
function principalOf(identity) {
  if (!identity) {
    return ANONYMOUS;
  }
  if (identity.sub) {
    return identity.sub;
  }
  if (identity.cognitoIdentityId) {
    return identity.cognitoIdentityId;
  }
  if (identity.userArn) {
    return roleOf(identity.userArn);
  }
  return identity.username || ANONYMOUS;
}

export function request(ctx) {
  return { payload: null };
}

export function response(ctx) {
  const sessionId = ctx.args.sessionId;
  if (sessionId.length === 0 || sessionId.length > MAX_SESSION_ID_CHARS) {
    util.error(`sessionId: must be 1 to ${MAX_SESSION_ID_CHARS} characters`, 'InvalidInput', null, {
      violations: [{ field: 'sessionId', rule: `must be 1 to ${MAX_SESSION_ID_CHARS} characters` }],
    });
  }
  const principal = principalOf(ctx.identity);
  const groups = [{ sessionId: { eq: sessionId }, owner: { eq: principal } }];
  if (principal !== ANONYMOUS) {
    groups.push({ sessionId: { eq: sessionId }, visibility: { eq: 'SHARED' } });
  }
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter({ or: groups }));
  return null;
}
