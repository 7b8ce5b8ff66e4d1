/** A run in a list (the runs list, a schedule's runs): the whole row opens the run. */
import * as React from 'react';

import { IRun } from '../common/types';

export function RunRow(props: {
  run: IRun;
  onOpen: (run: IRun) => void;
  /** Shown as `data-archived` (the runs list, which can show archived runs). */
  archived?: boolean;
  children: React.ReactNode;
}): JSX.Element {
  const { run } = props;
  return (
    <li
      className="jp-DSP-row jp-DSP-run"
      data-run-id={run.run_id}
      data-state={run.state ?? ''}
      title="Open the run"
      data-archived={props.archived === undefined ? undefined : String(props.archived)}
      onClick={() => props.onOpen(run)}
    >
      {props.children}
    </li>
  );
}
