// Runs APPSYNC_JS unit resolvers the way AppSync runs them.
// NONE data source: request(ctx) → its `payload` becomes ctx.result → response(ctx).
// Lambda data source ("dataSource": "lambda"): request(ctx) is recorded as `request` (what
// AppSync would invoke the function with), then ctx.result = `lambdaResult` and, for a function
// that crashed, ctx.error = `lambdaError` → response(ctx).
//
// stdin: [{"file": "/abs/path.js", "args": {...}, "identity": {...}|null, "now": epochMs,
//          "info": {...}, "dataSource": "none"|"lambda", "lambdaResult": ..., "lambdaError": {...}}, ...]
// stdout: [{"request": ..., "result": ..., "subscriptionFilter": ...|null,
//           "error": {message, errorType, data, errorInfo}|null}, ...]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const state = (globalThis.__appsync ??= {});
const cases = JSON.parse(readFileSync(0, 'utf8'));
const modules = new Map();
const out = [];

for (const c of cases) {
  if (!modules.has(c.file)) modules.set(c.file, await import(pathToFileURL(c.file).href));
  const resolver = modules.get(c.file);
  state.now = c.now ?? null;
  state.authType = c.authType ?? null;
  state.subscriptionFilter = undefined;
  const ctx = {
    args: structuredClone(c.args ?? {}),
    arguments: undefined,
    identity: c.identity ?? null,
    source: null,
    stash: {},
    prev: {},
    request: c.request ?? { headers: {} },
    info: c.info ?? {},
  };
  ctx.arguments = ctx.args;
  let request = null;
  try {
    request = resolver.request(ctx);
    if (c.dataSource === 'lambda') {
      ctx.result = c.lambdaResult ?? null;
      if (c.lambdaError) ctx.error = c.lambdaError;
    } else {
      ctx.result = request && 'payload' in request ? request.payload : null;
    }
    const result = resolver.response(ctx);
    out.push({ request, result: result ?? null, subscriptionFilter: state.subscriptionFilter ?? null, error: null });
  } catch (err) {
    const error = { message: err.message, errorType: err.errorType ?? null, data: err.data ?? null, errorInfo: err.errorInfo ?? null };
    out.push({ request, result: null, subscriptionFilter: null, error });
  }
}
process.stdout.write(JSON.stringify(out));
