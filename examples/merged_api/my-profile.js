// The team's resolver for Query.myProfile (a NONE data source): the signed-in user's name.
export function request(ctx) {
  return { payload: { username: ctx.identity.username } };
}

export function response(ctx) {
  return ctx.result;
}
