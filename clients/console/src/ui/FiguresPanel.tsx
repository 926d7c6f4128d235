/** A session's figures: TTFT, tokens/s, events published vs tokens received, usage. */
import type { Figures } from "../figures.js";

function fmt(value: number | null | undefined, digits = 0, unit = ""): string {
  return value === null || value === undefined ? "–" : `${value.toFixed(digits)}${unit}`;
}

export function FiguresPanel({ figures, firstTextMs }: { figures: Figures | null; firstTextMs: number | null }) {
  if (figures === null && firstTextMs === null) return null;
  const saved =
    figures && figures.tokensReceived && figures.tokenEvents > 0 ? figures.tokensReceived / figures.tokenEvents : null;
  return (
    <dl className="figures" data-testid="figures">
      {firstTextMs !== null ? (
        <>
          <dt>first text in this browser</dt>
          <dd data-testid="figure-first-text">{fmt(firstTextMs, 0, " ms")}</dd>
        </>
      ) : null}
      {figures ? (
        <>
          <dt>time to first token</dt>
          <dd data-testid="figure-ttft">{fmt(figures.timeToFirstTokenMs, 0, " ms")}</dd>
          <dt>tokens per second</dt>
          <dd data-testid="figure-tps">{fmt(figures.tokensPerSecond, 1)}</dd>
          <dt>events published / tokens received</dt>
          <dd data-testid="figure-events">
            {figures.eventsPublished} events ({figures.tokenEvents} with text) / {fmt(figures.tokensReceived)} tokens
            {saved !== null ? ` — ${saved.toFixed(1)} tokens per publish` : ""}
          </dd>
          <dt>usage</dt>
          <dd data-testid="figure-usage">
            {figures.usage
              ? `${fmt(figures.usage.inputTokens)} in, ${fmt(figures.usage.outputTokens)} out, ${fmt(figures.usage.totalTokens)} total`
              : "–"}
          </dd>
        </>
      ) : null}
    </dl>
  );
}
