/**
 * @tokencast/client: stream LLM output from tokencast over AppSync, in order, without
 * duplicates or holes, across restarts and reconnects.
 *
 * ```ts
 * import { generateClient } from "aws-amplify/api";
 * import { createTokencastClient } from "@tokencast/client";
 * import { amplifyTransport } from "@tokencast/client/amplify";
 *
 * const tokencast = createTokencastClient({ graphql: amplifyTransport(generateClient()) });
 * const stream = await tokencast.stream({ prompt: "Hello" });
 * stream.onText((text) => render(text));
 * const { status, text } = await stream.result();
 * ```
 */
export { createTokencastClient, TokencastClient } from "./client.js";
export type { ClientOptions, StreamRequest } from "./client.js";
export type { Message, StartInput } from "./api.js";
export { TokenStream } from "./stream.js";
export type { StreamOptions, StreamStats } from "./stream.js";
export { StreamAssembler } from "./assembler.js";
export type { AssemblerOptions, AssemblerStats } from "./assembler.js";
export * from "./errors.js";
export type { GraphQLTransport, LiveSubscription, SubscriptionHandlers, Variables } from "./transport.js";
export * from "./types.js";
export * as documents from "./documents.js";
