/** A tab of a `jp-DSP-tabs` tablist: `data-tab` names it, the chosen one is `jp-mod-active`. */
import * as React from 'react';

export function Tab(props: {
  id: string;
  active: boolean;
  title?: string;
  onSelect: () => void;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <button
      role="tab"
      aria-selected={props.active}
      className={`jp-DSP-tab${props.active ? ' jp-mod-active' : ''}`}
      data-tab={props.id}
      title={props.title}
      onClick={() => props.onSelect()}
    >
      {props.children}
    </button>
  );
}
