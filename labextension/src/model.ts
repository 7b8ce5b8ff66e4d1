/**
 * State the panel, dialogs, commands and run views share: the client, the
 * latest `dsp/info`, and signals that say what changed so views reload.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { DSPClient, DSPError } from './api';
import { IInfo, SpaceName } from './types';

export class DSPModel {
  constructor(readonly client: DSPClient = new DSPClient()) {}

  get info(): IInfo | null {
    return this._info;
  }

  get infoError(): string | null {
    return this._infoError;
  }

  /** Fires after every `dsp/info` load, successful or not. */
  get infoChanged(): ISignal<this, void> {
    return this._infoChanged;
  }

  /** A space's pipelines changed (upload, fork, delete). */
  get pipelinesChanged(): ISignal<this, SpaceName> {
    return this._pipelinesChanged;
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
  private _infoChanged = new Signal<this, void>(this);
  private _pipelinesChanged = new Signal<this, SpaceName>(this);
  private _runsChanged = new Signal<this, void>(this);
}
