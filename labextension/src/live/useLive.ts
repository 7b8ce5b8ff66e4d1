/** React side of the live feed: reload a view when one of its lists changes (here or elsewhere). */
import * as React from 'react';

import { ChangeKey } from '../common/liveFeed';
import { DSPModel } from '../common/model';

/**
 * While `active` (the view is visible), call `onChange` when any of `keys` changes on the
 * server (a notebook, another tab, a schedule, the cluster). The latest `onChange` is used.
 */
export function useLive(model: DSPModel, keys: ChangeKey[], active: boolean, onChange: (key: ChangeKey) => void): void {
  const callback = React.useRef(onChange);
  callback.current = onChange;
  const joined = active ? [...new Set(keys)].sort().join('\n') : '';
  React.useEffect(() => {
    if (!joined) {
      return;
    }
    const stops = joined.split('\n').map(key => model.live.watch(key, () => callback.current(key)));
    return () => stops.forEach(stop => stop());
  }, [model, joined]);
}

/**
 * A count that goes up when this panel changes runs (`model.notifyRuns`) and on `bump` (a
 * retry, a poll, a change seen live): a list that depends on it reads again.
 */
export function useRunsTick(model: DSPModel): [number, () => void] {
  const [tick, setTick] = React.useState(0);
  React.useEffect(() => {
    const onChange = (): void => setTick(t => t + 1);
    model.runsChanged.connect(onChange);
    return () => {
      model.runsChanged.disconnect(onChange);
    };
  }, [model]);
  const bump = React.useCallback(() => setTick(t => t + 1), []);
  return [tick, bump];
}
