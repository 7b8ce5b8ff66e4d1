/**
 * A run's outputs, one artifact or one task's inputs/outputs at a time: output parameters as a
 * table, and each artifact by its type (metrics table and bars, confusion matrix, ROC curve,
 * Markdown, HTML in a sandboxed iframe, dataset rows, download). Charts are Vega-Lite specs
 * shown with JupyterLab's own renderers (IRenderMimeRegistry), like a notebook output.
 */
import * as React from 'react';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { MimeView, VegaChart } from './charts';
import { OpenNotebookButton } from './openNotebook';
import {
  allArtifacts,
  artifactUrl,
  confusionSpec,
  humanSize,
  IArtifact,
  IIO,
  metricsBarSpec,
  parseCsv,
  readArtifactText,
  ResultsSpace,
  rocSpec,
  scalarMetrics,
  valueText
} from './resultsModel';

const PREVIEW_ROWS = 10;

function ParamsTable(props: { parameters: Record<string, unknown>; title: string }): JSX.Element | null {
  const entries = Object.entries(props.parameters);
  if (!entries.length) {
    return null;
  }
  return (
    <table className="jp-DSP-table jp-DSP-outParams" data-title={props.title}>
      <thead>
        <tr>
          <th>{props.title}</th>
          <th>value</th>
          <th>type</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} data-name={k}>
            <th>{k}</th>
            <td>
              <code>{valueText(v)}</code>
            </td>
            <td>{Array.isArray(v) ? 'list' : v === null ? 'null' : typeof v === 'object' ? 'dict' : typeof v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ClassificationView(props: { metadata: Record<string, any>; title: string }): JSX.Element {
  const matrix = props.metadata?.confusionMatrix;
  const confidence = props.metadata?.confidenceMetrics;
  return (
    <div className="jp-DSP-chartRow">
      {matrix?.rows?.length ? <VegaChart kind="confusion" spec={confusionSpec(matrix, `${props.title}: confusion matrix`)} /> : null}
      {Array.isArray(confidence) && confidence.length ? (
        <VegaChart kind="roc" spec={rocSpec(confidence, `${props.title}: ROC curve`)} />
      ) : null}
    </div>
  );
}

/** Content of a Markdown, HTML or dataset artifact, read (first 256 KB) when shown. */
function ContentView(props: { model: DSPModel; runId: string; space: ResultsSpace; artifact: IArtifact }): JSX.Element {
  const { artifact } = props;
  const [content, setContent] = React.useState<{ text: string; truncated: boolean } | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    readArtifactText(props.model.client.settings, props.runId, artifact.artifact_id, 256 * 1024, props.space)
      .then(c => !cancelled && setContent(c))
      .catch(reason => !cancelled && setError(errorText(reason)));
    return () => {
      cancelled = true;
    };
  }, [props.runId, artifact.artifact_id]);
  if (error) {
    return <div className="jp-DSP-error">Cannot read {artifact.name}: {error}</div>;
  }
  if (!content) {
    return <div className="jp-DSP-empty">Reading {artifact.name}…</div>;
  }
  if (artifact.type === 'system.Markdown') {
    return (
      <MimeView
        mime="text/markdown"
        data={content.text}
        className="jp-DSP-markdown"
        fallback={<pre className="jp-DSP-markdown">{content.text}</pre>}
      />
    );
  }
  if (artifact.type === 'system.HTML') {
    // no allow-scripts, no allow-same-origin: the report cannot run code or reach the server
    return <iframe className="jp-DSP-htmlFrame" sandbox="" srcDoc={content.text} title={artifact.name} />;
  }
  const text = content.truncated ? content.text.slice(0, content.text.lastIndexOf('\n') + 1) : content.text;
  const [header, ...rows] = parseCsv(text, PREVIEW_ROWS);
  return (
    <table className="jp-DSP-table jp-DSP-dataset" data-artifact={artifact.name}>
      <thead>
        <tr>{(header ?? []).map((h, i) => <th key={i}>{h}</th>)}</tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}

export function ArtifactView(props: {
  model: DSPModel;
  runId: string;
  space: ResultsSpace;
  artifact: IArtifact;
  task: string;
}): JSX.Element {
  const { artifact } = props;
  const title = props.task ? `${props.task}.${artifact.name}` : artifact.name;
  const metrics = scalarMetrics(artifact);
  const href = artifact.artifact_id
    ? artifactUrl(props.model.client.settings, props.runId, artifact.artifact_id, props.space)
    : null;
  const fileName = artifact.uri.split('/').pop() || artifact.name;
  return (
    <div className="jp-DSP-artifact" data-artifact={artifact.name} data-type={artifact.type}>
      <div className="jp-DSP-artifactHead">
        <b>{artifact.name}</b> <span className="jp-DSP-artifactType">{artifact.type}</span>{' '}
        {artifact.size !== null ? <span className="jp-DSP-row-meta">{humanSize(artifact.size)}</span> : null}{' '}
        {href && artifact.size !== null ? (
          <a className="jp-DSP-link" data-action="download" href={href} download={fileName}>
            Download
          </a>
        ) : null}{' '}
        <OpenNotebookButton runId={props.runId} space={props.space} task={props.task} artifact={artifact} />
        <div className="jp-DSP-uri" title={artifact.uri}>
          {artifact.uri}
        </div>
      </div>
      {artifact.type === 'system.Metrics' ? (
        <div className="jp-DSP-chartRow">
          <ParamsTable parameters={metrics} title="metric" />
          {Object.keys(metrics).length > 0 ? <VegaChart kind="metrics" spec={metricsBarSpec(metrics, title)} /> : null}
        </div>
      ) : null}
      {artifact.type === 'system.ClassificationMetrics' ? <ClassificationView metadata={artifact.metadata} title={title} /> : null}
      {artifact.type === 'system.SlicedClassificationMetrics'
        ? (artifact.metadata?.evaluationSlices ?? []).map((s: any, i: number) => (
            <ClassificationView key={i} metadata={s?.sliceClassificationMetrics ?? {}} title={`${title} [${s?.slice ?? i}]`} />
          ))
        : null}
      {['system.Markdown', 'system.HTML', 'system.Dataset'].includes(artifact.type) && artifact.artifact_id ? (
        <ContentView model={props.model} runId={props.runId} space={props.space} artifact={artifact} />
      ) : null}
    </div>
  );
}

export function IOView(props: {
  model: DSPModel;
  runId: string;
  space: ResultsSpace;
  io: IIO;
  title: string;
  task: string;
  brief?: boolean;
}): JSX.Element {
  const artifacts = allArtifacts(props.io);
  if (!artifacts.length && !Object.keys(props.io.parameters).length) {
    return <div className="jp-DSP-empty">No {props.title}.</div>;
  }
  return (
    <div className="jp-DSP-io" data-io={props.title}>
      <ParamsTable parameters={props.io.parameters} title={props.title} />
      {props.brief
        ? artifacts.map(a => (
            <div key={a.artifact_id || a.name} className="jp-DSP-artifactHead" data-artifact={a.name}>
              <b>{a.name}</b> <span className="jp-DSP-artifactType">{a.type}</span>{' '}
              <span className="jp-DSP-uri">{a.uri}</span>
            </div>
          ))
        : artifacts.map(a => (
            <ArtifactView key={a.artifact_id || a.name} model={props.model} runId={props.runId} space={props.space} artifact={a} task={props.task} />
          ))}
    </div>
  );
}
