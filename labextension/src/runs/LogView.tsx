/** A task's log, tailed by byte offset while the task runs. */
import * as React from 'react';

import { errorText } from '../common/api';
import { lifecycleOf, RunSpace } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { ITaskDetail } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';

const LOG_POLL_MS = 1500;

// a long log: the view starts LOG_TAIL_BYTES before its end, and polling never keeps more than
// LOG_MAX_CHARS of text in React state (earlier parts load on demand)
const LOG_TAIL_BYTES = 64 * 1024;
const LOG_MAX_CHARS = 128 * 1024;

export function LogView(props: {
  model: DSPModel;
  runId: string;
  task: ITaskDetail;
  visible: boolean;
  space?: RunSpace;
}): JSX.Element {
  const { model, runId, task } = props;
  const space = props.space ?? 'project';
  const visible = React.useRef(props.visible);
  visible.current = props.visible;
  const [text, setText] = React.useState('');
  // byte offset of the first byte shown: a long log is shown from its tail (LOG_TAIL_BYTES),
  // earlier parts on demand; the text kept in state never grows past LOG_MAX_CHARS by polling
  const [start, setStart] = React.useState(0);
  const [complete, setComplete] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [retry, setRetry] = React.useState(0);
  const pre = React.useRef<HTMLPreElement>(null);

  React.useEffect(() => {
    let offset = 0;
    let stopped = false;
    let timer = 0;
    let decoder = new TextDecoder('utf-8');
    setText('');
    setStart(0);
    setComplete(false);
    setError(null);
    const poll = async (): Promise<void> => {
      if (!visible.current) {
        timer = window.setTimeout(poll, LOG_POLL_MS); // hidden tab: no requests, look again later
        return;
      }
      try {
        const chunk = await lifecycleOf(model).api.readLog(space, runId, task.task_id, offset);
        if (stopped) {
          return;
        }
        if (chunk.size !== undefined && chunk.size - offset > 2 * LOG_TAIL_BYTES) {
          offset = chunk.size - LOG_TAIL_BYTES; // far behind: jump to the tail
          decoder = new TextDecoder('utf-8');
          setText('');
          setStart(offset);
          timer = window.setTimeout(poll, 0);
          return;
        }
        offset = chunk.nextOffset;
        const piece = decoder.decode(chunk.bytes, { stream: !chunk.complete });
        if (piece) {
          setText(t => {
            const all = t + piece;
            return all.length > LOG_MAX_CHARS ? all.slice(all.length - LOG_MAX_CHARS) : all;
          });
        }
        if (chunk.complete) {
          setComplete(true);
          return;
        }
        // catching up: read on at once; at the end: poll for new bytes only
        const behind = chunk.size !== undefined && chunk.size > offset;
        timer = window.setTimeout(poll, behind ? 0 : LOG_POLL_MS);
      } catch (reason) {
        if (!stopped) {
          setError(errorText(reason));
        }
      }
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [model, runId, task.task_id, retry]);

  const loadEarlier = async (): Promise<void> => {
    // the LOG_TAIL_BYTES before the first byte shown (the user asked: the view may grow)
    const from = Math.max(0, start - LOG_TAIL_BYTES);
    try {
      const chunk = await lifecycleOf(model).api.readLog(space, runId, task.task_id, from);
      const bytes = chunk.bytes.subarray(0, start - from);
      setText(t => new TextDecoder('utf-8').decode(bytes) + t);
      setStart(from);
    } catch (reason) {
      setError(errorText(reason));
    }
  };

  React.useEffect(() => {
    const node = pre.current;
    if (node && node.scrollHeight - node.scrollTop - node.clientHeight < 80) {
      node.scrollTop = node.scrollHeight;
    }
  }, [text]);

  return (
    <div className="jp-DSP-log" data-task-id={task.task_id} data-complete={String(complete)}>
      <div className="jp-DSP-log-title">
        Log of {task.display_name || task.task_id} {complete ? '' : <span className="jp-DSP-tailing">(following…)</span>}
      </div>
      {error ? <ErrorBox error={`Cannot read the log: ${error}`} onRetry={() => setRetry(r => r + 1)} /> : null}
      {start > 0 ? (
        <button className="jp-DSP-link jp-DSP-log-earlier" data-action="log-earlier" onClick={() => void loadEarlier()}>
          Load earlier output ({start.toLocaleString()} bytes not shown)
        </button>
      ) : null}
      <pre ref={pre} className="jp-DSP-log-text">
        {text || (complete ? '(this task wrote no log)' : 'Waiting for output…')}
      </pre>
    </div>
  );
}
