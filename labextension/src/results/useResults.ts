/**
 * Reading a run's results document in the run view: started early (prefetch, on mount), then
 * read again while the run is active, one read at a time.
 */
import * as React from 'react';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { isActive } from '../common/types';
import { fetchResults, IResults, ResultsSpace } from './resultsModel';

const prefetched = new Map<string, Promise<IResults>>();

/**
 * Start reading a run's results now (the run view calls it on mount, before the run itself has
 * arrived); the first `useResults` of that run takes the read over. Causes no re-render.
 */
export function usePrefetchResults(model: DSPModel, runId: string, space: ResultsSpace = 'project'): void {
  React.useEffect(() => {
    const id = `${space}:${runId}`;
    if (!prefetched.has(id)) {
      const read = fetchResults(model.client.settings, runId, space);
      read.catch(() => undefined); // an error shows when taken over
      prefetched.set(id, read);
    }
  }, [model, runId, space]);
}

function takeOrFetch(model: DSPModel, runId: string, space: ResultsSpace): Promise<IResults> {
  const id = `${space}:${runId}`;
  const read = prefetched.get(id);
  prefetched.delete(id);
  return read ?? fetchResults(model.client.settings, runId, space);
}

/**
 * The results document of a run, read again when `key` changes (state, tasks ended) while the
 * run is active, or on `reload`. One read at a time: a change during a read is looked at when
 * it ends (so opening a finished run reads once, in parallel with the run itself).
 */
export function useResults(
  model: DSPModel,
  runId: string,
  key: string,
  space: ResultsSpace = 'project'
): { results: IResults | null; error: string | null; reload: () => void } {
  const [results, setResults] = React.useState<IResults | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  const want = React.useRef({ key, tick });
  want.current = { key, tick };
  const reads = React.useRef({ busy: false, alive: true, final: false, got: null as null | { key: string; tick: number } });
  React.useEffect(
    () => () => {
      reads.current.alive = false;
    },
    []
  );
  React.useEffect(() => {
    const r = reads.current;
    const load = (): void => {
      if (r.busy) {
        return; // the read under way looks at `want` again when it ends
      }
      const target = { ...want.current };
      r.busy = true;
      takeOrFetch(model, runId, space)
        .then(doc => {
          r.busy = false;
          if (!r.alive) {
            return;
          }
          r.got = target;
          r.final = !isActive(doc.state);
          setResults(doc);
          setError(null);
          const now = want.current;
          if (now.tick !== target.tick || (!r.final && now.key !== target.key)) {
            load();
          }
        })
        .catch(reason => {
          r.busy = false;
          if (r.alive) {
            setError(errorText(reason));
          }
        });
    };
    const got = r.got;
    if (got && got.tick === tick && (r.final || got.key === key)) {
      return; // a finished run's results do not change
    }
    load();
  }, [model, runId, key, space, tick]);
  return { results, error, reload: () => setTick(t => t + 1) };
}
