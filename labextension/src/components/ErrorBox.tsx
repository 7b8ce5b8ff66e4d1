import * as React from 'react';

/** An error shown where it happened, with an optional hint and retry. */
export function ErrorBox(props: { error: string; hint?: string | null; onRetry?: () => void }): JSX.Element {
  return (
    <div className="jp-DSP-error" role="alert">
      <div className="jp-DSP-error-message">{props.error}</div>
      {props.hint ? <div className="jp-DSP-error-hint">{props.hint}</div> : null}
      {props.onRetry ? (
        <button className="jp-DSP-link" onClick={props.onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
