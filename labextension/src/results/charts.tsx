/**
 * Charts and other MIME renderings in the panel, drawn by JupyterLab's own renderers (the
 * IRenderMimeRegistry the plugin hands over): a Vega-Lite spec renders exactly as the same
 * spec does in a notebook output. Without a registry (or a renderer for the type), a fallback.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { errorText } from '../common/api';
import { valueText, VEGALITE_MIME } from './resultsModel';

let registry: IRenderMimeRegistry | null = null;

/** The plugin hands JupyterLab's rendermime registry over at activation (null: text fallbacks). */
export function setRenderMime(value: IRenderMimeRegistry | null): void {
  registry = value;
}

/**
 * A run's Markdown keeps no form controls (JupyterLab's sanitizer lets `<form>`, `<button>`,
 * `<input>` through): a report's "send" button would submit the form to the Lab page itself
 * and navigate it away, and its inputs could pose as a login. Their text stays, as text; the
 * kernel's Markdown drops them too (jupyter_dsp/client/safe_html.py).
 */
function dropFormControls(node: HTMLElement): void {
  for (const el of Array.from(node.querySelectorAll('form, button, input, select, textarea, option'))) {
    el.replaceWith(...Array.from(el.childNodes));
  }
}

/** One MIME bundle drawn by the registry's renderer into a div (else the fallback). */
export function MimeView(props: { mime: string; data: unknown; fallback: JSX.Element; className?: string }): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const [failed, setFailed] = React.useState<string | null>(null);
  const usable = !!registry && registry.mimeTypes.includes(props.mime);
  const json = JSON.stringify(props.data);
  React.useEffect(() => {
    if (!usable || !host.current || !registry) {
      return;
    }
    const renderer = registry.createRenderer(props.mime);
    const model = new MimeModel({ data: { [props.mime]: props.data as any }, trusted: false });
    let disposed = false;
    renderer
      .renderModel(model)
      .then(() => {
        if (!disposed && host.current) {
          if (props.mime === 'text/markdown') {
            dropFormControls(renderer.node);
          }
          Widget.attach(renderer, host.current);
        }
      })
      .catch(reason => setFailed(errorText(reason)));
    return () => {
      disposed = true;
      renderer.dispose();
    };
  }, [props.mime, json, usable]);
  if (!usable || failed) {
    return props.fallback;
  }
  return <div ref={host} className={props.className ?? 'jp-DSP-mime'} data-mime={props.mime} />;
}

/** A Vega-Lite chart; without a Vega renderer, its data as a table. */
export function VegaChart(props: { spec: Record<string, any>; kind: string }): JSX.Element {
  const values: Record<string, unknown>[] =
    props.spec.data?.values ?? props.spec.layer?.[props.spec.layer.length - 1]?.data?.values ?? [];
  const keys = values.length ? Object.keys(values[0]) : [];
  const fallback = (
    <table className="jp-DSP-table jp-DSP-chartData">
      <caption>{props.spec.title}</caption>
      <tbody>
        {values.slice(0, 50).map((v, i) => (
          <tr key={i}>
            {keys.map(k => (
              <td key={k}>{valueText(v[k])}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <div className="jp-DSP-chart" data-chart={props.kind} data-title={props.spec.title}>
      <MimeView mime={VEGALITE_MIME} data={props.spec} fallback={fallback} />
    </div>
  );
}

