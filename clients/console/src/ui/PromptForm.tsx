/** The prompt box: prompt, system prompt, model, maxTokens, temperature, visibility. */
import { useState } from "react";
import type { StartInput, Visibility } from "@tokencast/client";

export function PromptForm({ onSubmit, busy }: { onSubmit: (input: StartInput) => void; busy: boolean }) {
  const [prompt, setPrompt] = useState("");
  const [system, setSystem] = useState("");
  const [modelId, setModelId] = useState("");
  const [maxTokens, setMaxTokens] = useState("");
  const [temperature, setTemperature] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("PRIVATE");

  const submit = (event: React.FormEvent): void => {
    event.preventDefault();
    const input: StartInput = { prompt, visibility };
    if (system.trim()) input.system = system;
    if (modelId.trim()) input.modelId = modelId.trim();
    if (maxTokens.trim()) input.maxTokens = Number(maxTokens);
    if (temperature.trim()) input.temperature = Number(temperature);
    onSubmit(input);
  };

  return (
    <form className="prompt" onSubmit={submit}>
      <label>
        Prompt
        <textarea name="prompt" rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} required />
      </label>
      <label>
        System prompt
        <textarea name="system" rows={2} value={system} onChange={(e) => setSystem(e.target.value)} />
      </label>
      <div className="row">
        <label>
          Model
          <input name="modelId" placeholder="the deployment's default" value={modelId} onChange={(e) => setModelId(e.target.value)} />
        </label>
        <label>
          Max tokens
          <input name="maxTokens" type="number" min={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
        </label>
        <label>
          Temperature
          <input name="temperature" type="number" min={0} max={1} step={0.1} value={temperature} onChange={(e) => setTemperature(e.target.value)} />
        </label>
        <label>
          Visibility
          <select name="visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)}>
            <option value="PRIVATE">PRIVATE (only you)</option>
            <option value="SHARED">SHARED (anyone signed in)</option>
          </select>
        </label>
      </div>
      <button type="submit" disabled={busy || !prompt.trim()}>
        {busy ? "Starting…" : "Stream"}
      </button>
    </form>
  );
}
