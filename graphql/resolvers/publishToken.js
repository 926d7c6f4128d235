/**
 * Mutation.publishToken on a NONE data source: AppSync's fan-out point.
 *
 * The worker (IAM, the only principal whose policy names this field) publishes a TokenEvent;
 * this resolver echoes it back so AppSync delivers it to onTokenReceived subscribers. Nothing is
 * stored or logged here. A missing timestamp is stamped with AppSync's clock.
 *
 * Python twin (run by the local emulator): tokencast.local.appsync.builtins.publish_passthrough.
 * tests/infra/test_resolver_parity.py runs this file under Node and compares the two.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const event = Object.assign({}, ctx.args);
  if (!event.timestamp) {
    event.timestamp = util.time.nowISO8601();
  }
  return { payload: event };
}

export function response(ctx) {
  return ctx.result;
}
