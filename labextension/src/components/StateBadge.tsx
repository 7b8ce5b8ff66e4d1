import * as React from 'react';

import { stateLabel } from '../common/format';

/** A coloured pill with a run's or task's state. */
export function StateBadge(props: { state: string | undefined }): JSX.Element {
  const state = props.state || 'RUNTIME_STATE_UNSPECIFIED';
  return (
    <span className={`jp-DSP-badge jp-DSP-state-${state.toLowerCase()}`} data-state={state}>
      {stateLabel(state)}
    </span>
  );
}
