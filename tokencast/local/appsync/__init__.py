"""A local emulator of AWS AppSync: GraphQL over HTTP and the AppSync real-time protocol."""
