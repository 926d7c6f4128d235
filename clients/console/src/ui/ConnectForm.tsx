/** Point a static copy of the console at a deployed stack: its CloudFormation outputs. */
import { useState } from "react";

import { saveCloudConfig } from "../config.js";

export function ConnectForm() {
  const [graphqlUrl, setGraphqlUrl] = useState("");
  const [region, setRegion] = useState("");
  const [userPoolId, setUserPoolId] = useState("");
  const [userPoolClientId, setUserPoolClientId] = useState("");
  const [apiKey, setApiKey] = useState("");

  return (
    <form
      className="connect"
      onSubmit={(e) => {
        e.preventDefault();
        saveCloudConfig({
          mode: "cloud",
          graphqlUrl: graphqlUrl.trim(),
          region: region.trim(),
          ...(userPoolId.trim() ? { userPoolId: userPoolId.trim() } : {}),
          ...(userPoolClientId.trim() ? { userPoolClientId: userPoolClientId.trim() } : {}),
          ...(apiKey.trim() ? { apiKey: apiKey.trim() } : {}),
        });
        window.location.reload();
      }}
    >
      <h2>Connect to a deployed tokencast</h2>
      <p className="muted">
        The stack's outputs (`aws cloudformation describe-stacks --stack-name Tokencast`): GraphQLUrl, Region, UserPoolId,
        UserPoolClientId, and the API key if the stack has one. Kept in this browser only.
      </p>
      <label>
        GraphQLUrl
        <input value={graphqlUrl} onChange={(e) => setGraphqlUrl(e.target.value)} required type="url" />
      </label>
      <label>
        Region
        <input value={region} onChange={(e) => setRegion(e.target.value)} required />
      </label>
      <label>
        UserPoolId
        <input value={userPoolId} onChange={(e) => setUserPoolId(e.target.value)} />
      </label>
      <label>
        UserPoolClientId
        <input value={userPoolClientId} onChange={(e) => setUserPoolClientId(e.target.value)} />
      </label>
      <label>
        API key (optional)
        <input value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
      </label>
      <button type="submit">Connect</button>
    </form>
  );
}
