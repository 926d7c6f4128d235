// Runs APPSYNC_JS unit resolvers the way AppSync runs them on a NONE data source:
// request(ctx) → its `payload` becomes ctx.result → response(ctx).
//
// stdin: [{"file": "/abs/path.js", "args": {...}, "identity": {...}|null, "now": epochMs}, ...]
// stdout: [{"result": ..., "subscriptionFilter": ...|null, "error": {...}|null}, ...]
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
    request: { headers: {} },
    info: {},
  };
  ctx.arguments = ctx.args;
  try {
    const request = resolver.request(ctx);
    ctx.result = request && 'payload' in request ? request.payload : null;
    const result = resolver.response(ctx);
    out.push({ result: result ?? null, subscriptionFilter: state.subscriptionFilter ?? null, error: null });
  } catch (err) {
    out.push({ result: null, subscriptionFilter: null, error: { message: err.message, errorType: err.errorType ?? null } });
  }
}
process.stdout.write(JSON.stringify(out));
