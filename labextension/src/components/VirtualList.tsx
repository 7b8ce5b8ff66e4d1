import * as React from 'react';

export interface IVirtualListProps<T> {
  items: readonly T[];
  /** Every row has this height in pixels; the list renders only the rows in view. */
  rowHeight: number;
  renderRow: (item: T, index: number) => React.ReactNode;
  rowKey: (item: T, index: number) => string;
  /** Called when the view comes within a few rows of the end (to load the next page). */
  onNearEnd?: () => void;
  className?: string;
  overscan?: number;
}

/** A windowed list: the DOM holds only the visible rows plus a few either side. */
export function VirtualList<T>(props: IVirtualListProps<T>): JSX.Element {
  const { items, rowHeight, overscan = 6 } = props;
  const ref = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [height, setHeight] = React.useState(400);

  React.useLayoutEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setHeight(node.clientHeight || 400);
    const observer = new ResizeObserver(() => setHeight(node.clientHeight || 400));
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + overscan);

  const onNearEnd = props.onNearEnd;
  React.useEffect(() => {
    if (onNearEnd && last >= items.length - overscan && items.length > 0) {
      onNearEnd();
    }
  }, [last, items.length, onNearEnd, overscan]);

  const rows: React.ReactNode[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div
        key={props.rowKey(items[i], i)}
        className="jp-DSP-vrow"
        style={{ position: 'absolute', top: i * rowHeight, height: rowHeight, left: 0, right: 0 }}
      >
        {props.renderRow(items[i], i)}
      </div>
    );
  }
  return (
    <div
      ref={ref}
      className={`jp-DSP-vlist ${props.className ?? ''}`}
      onScroll={event => setScrollTop((event.target as HTMLDivElement).scrollTop)}
    >
      <div style={{ position: 'relative', height: items.length * rowHeight }}>{rows}</div>
    </div>
  );
}
