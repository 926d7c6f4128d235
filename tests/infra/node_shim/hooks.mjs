// ESM resolve hook: `import ... from '@aws-appsync/utils'` loads the local shim, so the
// resolver files run exactly as deployed, with no node_modules and no npm install.
const SHIM = new URL('./aws-appsync-utils.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === '@aws-appsync/utils') {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
