/**
 * Failed jobs (local stack): the dead-letter queue with reasons, and replay -- the same
 * DeadLetterQueue operations as `tokencast dlq list` / `tokencast dlq replay`.
 */
import { useCallback, useEffect, useState } from "react";

import type { DeadJob, LocalApi, ReplayResult } from "../connection.js";
import { navigate, sessionPath } from "../router.js";

export function DlqPanel({ local }: { local: LocalApi }) {
  const [jobs, setJobs] = useState<DeadJob[] | null>(null);
  const [results, setResults] = useState<ReplayResult[]>([]);
  const [dryRun, setDryRun] = useState(false);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(async () => {
    try {
      setJobs((await local.deadJobs()).jobs);
      setError(null);
    } catch (failure) {
      setError(String((failure as Error).message ?? failure));
    }
  }, [local]);

  useEffect(() => {
    void reload();
  }, [reload]);

  const replay = async (sessionIds: string[] | null): Promise<void> => {
    try {
      setResults((await local.replay(sessionIds, { dryRun, force })).results);
      await reload();
    } catch (failure) {
      setError(String((failure as Error).message ?? failure));
    }
  };

  return (
    <section className="dlq">
      <h2>Failed jobs</h2>
      <p className="muted">
        Jobs in the dead-letter queue, oldest failure first. Replay sends a job back as a new attempt of its session; a COMPLETED
        session is refused unless forced.
      </p>
      <div className="row">
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
        <button type="button" onClick={() => void replay(null)} disabled={!jobs || jobs.length === 0}>
          Replay all
        </button>
        <label className="inline">
          <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} /> dry run
        </label>
        <label className="inline">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> force
        </label>
      </div>
      {error ? <p className="error">{error}</p> : null}
      {jobs && jobs.length === 0 ? <p className="muted">The dead-letter queue is empty.</p> : null}
      {jobs && jobs.length > 0 ? (
        <table data-testid="dlq-jobs">
          <thead>
            <tr>
              <th>session</th>
              <th>reason</th>
              <th>attempts</th>
              <th>age</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.message_id} data-testid="dlq-job">
                <td>
                  {job.session_id ? (
                    <a
                      href={sessionPath(job.session_id)}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate(sessionPath(job.session_id ?? ""));
                      }}
                    >
                      {job.session_id}
                    </a>
                  ) : (
                    "–"
                  )}
                </td>
                <td>
                  {job.error_type ? <code>{job.error_type}</code> : null} {job.reason}
                </td>
                <td>{job.attempts ?? job.receive_count}</td>
                <td>{Math.round(job.age_s)} s</td>
                <td>
                  {job.session_id ? (
                    <button type="button" onClick={() => void replay([job.session_id ?? ""])}>
                      Replay
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {results.length > 0 ? (
        <ul data-testid="dlq-results">
          {results.map((r) => (
            <li key={r.messageId}>
              {r.sessionId ?? r.messageId}: {r.action}
              {r.reason ? ` (${r.reason})` : ""}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
