/**
 * State the panel, dialogs, commands and run views share: the client, the
 * latest `dsp/info`, and signals that say what changed so views reload.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { DSPClient, DSPError } from './api';
import { LiveFeed } from './liveFeed';
import { IInfo, SpaceName } from './types';

export class DSPModel {
  constructor(readonly client: DSPClient = new DSPClient()) {
    this.live = new LiveFeed(client);
  }

  /** What changed on the server, for the views that are visible (liveFeed.ts). */
  readonly live: LiveFeed;

  get info(): IInfo | null {
    return this._info;
  }

  get infoError(): string | null {
    return this._infoError;
  }

  /** What to do about `infoError`, when known. */
  get infoHint(): string | null {
    return this._infoHint;
  }

  /** Fires after every `dsp/info` load, successful or not. */
  get infoChanged(): ISignal<this, void> {
    return this._infoChanged;
  }

  /** A space's pipelines changed (upload, fork, delete). */
  get pipelinesChanged(): ISignal<this, SpaceName> {
    return this._pipelinesChanged;
  }

  /** The panel should show this space's tab (after an upload there). */
  get showSpaceRequested(): ISignal<this, SpaceName> {
    return this._showSpace;
  }

  showSpace(space: SpaceName): void {
    this._showSpace.emit(space);
  }

  /** A run was created or terminated. */
  get runsChanged(): ISignal<this, void> {
    return this._runsChanged;
  }

  async refreshInfo(): Promise<IInfo | null> {
    try {
      this._info = await this.client.info();
      this._infoError = null;
    } catch (reason) {
      this._info = null;
      this._infoError = reason instanceof DSPError ? reason.message : String(reason);
      this._infoHint = null;
      if (reason instanceof DSPError && reason.status === 404) {
        this._infoError = 'The jupyter_dsp server extension does not answer on this Jupyter server (dsp/info: 404).';
        this._infoHint =
          'Enable it with `jupyter server extension enable jupyter_dsp` and restart JupyterLab; ' +
          '`jupyter server extension list` shows whether it loads.';
      } else if (reason instanceof DSPError && reason.status === 0) {
        this._infoHint = 'Check that the Jupyter server is still running.';
      } else if (reason instanceof DSPError && reason.details) {
        try {
          this._infoHint = JSON.parse(reason.details).hint ?? null;
        } catch {
          // not JSON: the message already says what happened
        }
      }
    }
    this._infoChanged.emit();
    return this._info;
  }

  /** Whether the shared space is listed at all (policy not "off" and the server offers it). */
  get sharedVisible(): boolean {
    return !!this._info && this._info.policy !== 'off' && !!this._info.spaces?.shared;
  }

  /** Whether the user may write (upload, delete) in a space. */
  canWrite(space: SpaceName): boolean {
    const info = this._info;
    if (!info) {
      return false;
    }
    if (space === 'shared') {
      return info.policy === 'read-write' && !!info.spaces?.shared?.writable;
    }
    if (space === 'managed') {
      return false; // the platform's managed pipelines are read-only
    }
    return !!info.spaces?.project?.writable;
  }

  /** Whether a run in the project can point at a shared version by reference (same stack behind both). */
  get sharedOnProjectStack(): boolean {
    const spaces = this._info?.spaces;
    return !!spaces?.shared && !!spaces?.project && spaces.shared.endpoint_host === spaces.project.endpoint_host;
  }

  notifyPipelines(space: SpaceName): void {
    this._pipelinesChanged.emit(space);
  }

  notifyRuns(): void {
    this._runsChanged.emit();
  }

  private _info: IInfo | null = null;
  private _infoError: string | null = null;
  private _infoHint: string | null = null;
  private _infoChanged = new Signal<this, void>(this);
  private _pipelinesChanged = new Signal<this, SpaceName>(this);
  private _runsChanged = new Signal<this, void>(this);
  private _showSpace = new Signal<this, SpaceName>(this);
}
